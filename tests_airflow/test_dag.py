"""The retrain DAG loads in Airflow (run in a venv with Airflow only: Airflow and TFT do not share one)."""

import os

DAGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "dags")


def load_dagbag():
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3
        return DagBag(dag_folder=DAGS)
    except ImportError:
        from airflow.models.dagbag import DagBag  # Airflow 2
        return DagBag(dag_folder=DAGS, include_examples=False)


def test_dag_loads_without_import_errors():
    bag = load_dagbag()
    assert bag.import_errors == {}
    dag = bag.dags.get("embedflow_retrain")
    assert dag is not None and dag.max_active_runs == 1
    task = dag.get_task("retrain")
    assert "retrain --config" in task.bash_command
    assert set(task.skip_on_exit_code) == {3, 5}
