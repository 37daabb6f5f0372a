import json
import re
from pathlib import Path

import pytest

REFERENCE = Path(__file__).parent / "reference"


def load_reference(rid: str) -> dict:
    return json.loads((REFERENCE / f"{rid}.json").read_text())


def r_name(name: str) -> str:
    """formulaic column name -> R's: 'Intercept' -> '(Intercept)', 'Sex[T.Female]' -> 'SexFemale'."""
    if name == "Intercept":
        return "(Intercept)"
    name = name.replace(" ** ", "^")
    return re.sub(r"([A-Za-z0-9_.]+)\[T\.([^\]]+)\]", r"\1\2", name)


@pytest.fixture(scope="session")
def reference():
    return load_reference
