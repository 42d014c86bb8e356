"""Every notebook runs top to bottom with small parameters (papermill), and is stored without outputs.

The notebooks run in order against one shared output folder, as a student runs them: later notebooks
read what earlier ones wrote.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from conftest import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# Small settings so CI runs every notebook in minutes; students use the defaults in each parameters cell.
CI_PARAMETERS = {"clip_limit": 96, "epochs": 3, "n_actors": 6}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("notebook_run")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_clean(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", "papermill needs kernelspec metadata"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), f"{path.name} is stored with outputs"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    for name in ("out_dir", "data_root"):
        assert name in tagged[0].source, f"{path.name}: parameters cell lacks {name}"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path: Path, run_dir: Path) -> None:
    import papermill as pm
    nb = nbformat.read(path, as_version=4)
    declared = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", [])).source
    params = {k: v for k, v in CI_PARAMETERS.items() if f"{k} =" in declared}
    pm.execute_notebook(str(path), str(run_dir / path.name), parameters={"out_dir": str(run_dir / "run"), **params},
                        kernel_name="python3", cwd=str(path.parent), progress_bar=False)
