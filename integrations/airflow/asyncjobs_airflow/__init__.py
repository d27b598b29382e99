"""An Apache Airflow provider for asyncjobs: wait for async-job REST APIs from Airflow's triggerer.

* :class:`asyncjobs_airflow.operators.AsyncJobOperator` submits a job (once: a retried task instance
  resumes the job it already submitted) and defers to
  :class:`asyncjobs_airflow.triggers.AsyncJobTrigger`, which waits through ``asyncjobs.aio`` in the
  triggerer's event loop, so no worker slot is held while the job runs;
* :class:`asyncjobs_airflow.sensors.AsyncJobSensor` waits for a job submitted elsewhere;
* :class:`asyncjobs_airflow.hooks.AsyncJobsHook` is the connection type ``asyncjobs``: a provider's
  settings, its secret in the password field.

Airflow finds this provider through the ``apache_airflow_provider`` entry point
(:func:`get_provider_info`).
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from typing import Any

__all__ = ["__version__", "get_provider_info"]

try:
    __version__: str = version("asyncjobs-airflow")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0+unknown"


#: The ``asyncjobs`` connection form: the provider and its settings in extra, the base URL in host,
#: the secret in password (Airflow masks it).
UI_FIELDS: dict[str, Any] = {
    "hidden_fields": ["schema", "login", "port"],
    "relabeling": {"host": "Base URL (optional)", "password": "Secret"},
    "placeholders": {
        "host": "https://v2.convertapi.com",
        "extra": json.dumps({"provider": "convertapi", "budget": "20/s"}),
    },
}


def get_provider_info() -> dict[str, Any]:
    """What Airflow's ``ProvidersManager`` reads about this provider (the ``apache_airflow_provider``
    entry point): its package, its connection type ``asyncjobs`` and the modules of its operator,
    sensor, trigger and hook."""
    modules = "asyncjobs_airflow"
    return {
        "package-name": "asyncjobs-airflow",
        "name": "asyncjobs",
        "description": (
            "One job interface over async-job REST APIs (ConvertAPI, GroupDocs, Conversio, "
            "CloudConvert, Zamzar): submit, defer to the triggerer, get the result's files."
        ),
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "asyncjobs",
                "tags": ["service"],
            }
        ],
        "operators": [
            {"integration-name": "asyncjobs", "python-modules": [f"{modules}.operators"]}
        ],
        "sensors": [{"integration-name": "asyncjobs", "python-modules": [f"{modules}.sensors"]}],
        "triggers": [{"integration-name": "asyncjobs", "python-modules": [f"{modules}.triggers"]}],
        "hooks": [{"integration-name": "asyncjobs", "python-modules": [f"{modules}.hooks"]}],
        "connection-types": [
            {
                "connection-type": "asyncjobs",
                "hook-class-name": f"{modules}.hooks.AsyncJobsHook",
                "hook-name": "asyncjobs (async-job REST APIs)",
                "ui-field-behaviour": {
                    "hidden-fields": UI_FIELDS["hidden_fields"],
                    "relabeling": UI_FIELDS["relabeling"],
                    "placeholders": UI_FIELDS["placeholders"],
                },
            }
        ],
    }
