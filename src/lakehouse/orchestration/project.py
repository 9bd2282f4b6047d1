"""The dbt project as dagster-dbt sees it: where it is and where its manifest goes.

dagster-dbt prepares the project itself: `dagster dev` parses it on start
(`prepare_if_dev`), and anywhere else `dagster-dbt project prepare-and-package --file
src/lakehouse/orchestration/project.py` (what `make dagster` and the tests run) writes the
manifest that the definitions load. The manifest lives in the state folder, beside Dagster's
runs, so a Dagster session never touches the `target/` of your own dbt commands.
"""

from dagster_dbt import DbtProject

from lakehouse.platform.config import Settings

SETTINGS = Settings.from_env()

DBT_PROJECT = DbtProject(
    project_dir=SETTINGS.project_dir,
    profiles_dir=SETTINGS.project_dir,
    target_path=SETTINGS.state_dir / "dagster" / "manifest",
)
DBT_PROJECT.prepare_if_dev()
