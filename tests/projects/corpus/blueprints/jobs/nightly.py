import logging

import azure.functions as func

bp = func.Blueprint()


@bp.timer_trigger(schedule="0 0 2 * * *", arg_name="timer", run_on_startup=False)
def nightly_cleanup(timer: func.TimerRequest) -> None:
    logging.info("cleaning up (past due: %s)", timer.past_due)
