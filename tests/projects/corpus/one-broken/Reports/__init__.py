import logging

import azure.functions as func
import pandas  # not in requirements.txt: the worker cannot load this function


def main(timer: func.TimerRequest) -> None:
    logging.info("report rows: %d", len(pandas.DataFrame()))
