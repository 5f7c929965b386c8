"""A durable entity counting reserved lines; ``main`` is what ``df.Entity.create`` returns."""

import azure.durable_functions as df


def counter(context: df.DurableEntityContext) -> None:
    total = int(context.get_state(lambda: 0))
    if context.operation_name == "add":
        context.set_state(total + int(context.get_input() or 0))
    elif context.operation_name == "reset":
        context.set_state(0)
    context.set_result(context.get_state(lambda: 0))


main = df.Entity.create(counter)
