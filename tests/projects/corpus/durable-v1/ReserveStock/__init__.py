"""The activity the orchestrator calls once per order line."""


def main(item: str) -> str:
    return f"reserved {item}"
