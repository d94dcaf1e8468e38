"""Airflow DAG: retrain every day, promote only a model that is not worse.

The task calls the `embedflow retrain` command, so the DAG needs nothing of
the project's Python stack: the command runs in the environment where
embedflow is installed (`EMBEDFLOW_BIN`), which may be a venv of its own or a
container (swap BashOperator for a KubernetesPodOperator or the Apache Beam
provider's operators for a Dataflow-backed setup; see README).

Exit codes of `embedflow retrain`: 0 promoted or nothing new, 3 candidate
not promoted (skipped here), 4 a span failed its data checks (the task fails:
alert), 5 another run holds the lock (skipped), 2 bad config or input, 1 crash.

Airflow Variables: `embedflow_retrain_config` (path to retrain.yaml) and
optionally `embedflow_bin` (default: `embedflow` on PATH).
"""

from __future__ import annotations

import datetime

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.operators.bash import BashOperator

NOT_PROMOTED, LOCKED = 3, 5

with DAG(
    dag_id="embedflow_retrain",
    description="Daily retrain of the embedding model; serving switches only to a model that is not worse",
    schedule="0 3 * * *",
    start_date=datetime.datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": datetime.timedelta(minutes=30)},
    tags=["embedflow", "retraining"],
) as dag:
    retrain = BashOperator(
        task_id="retrain",
        bash_command=("{{ var.value.get('embedflow_bin', 'embedflow') }} retrain "
                      "--config {{ var.value.embedflow_retrain_config }}"),
        skip_on_exit_code=[NOT_PROMOTED, LOCKED],
        execution_timeout=datetime.timedelta(hours=6),
    )
