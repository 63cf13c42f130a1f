"""No password in any message: `econ-obs db ...` errors show URLs with the password masked."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from econ_obs.store.database import DatabaseError, mask_password, parse_url, shown

ECON_OBS = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "econ-obs"


def db_status(database_url: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECON_OBS_")}
    env["ECON_OBS_DATABASE_URL"] = database_url
    return subprocess.run(
        [str(ECON_OBS), "db", "status"], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://rel:S3cret@127.0.0.1:1/econ_obs",  # unreachable port
        "postgresql://rel:S3cret@127.0.0.1:abc/econ_obs",  # port is not a number
        "postgresql://rel:S3cret@127.0.0.1:1/",  # no database
        "postgresql://rel:S3c/ret@127.0.0.1:1",  # unparsable, with a slash in the password
        "postgresql://127.0.0.1:1/econ_obs?password=S3cret",  # password as a query parameter
    ],
)
def test_db_status_never_prints_the_password_and_fails_in_one_line(url):
    result = db_status(url)

    output = result.stdout + result.stderr
    assert result.returncode == 2
    assert "S3cret" not in output and "S3c" not in output
    assert len(output.strip().splitlines()) == 1, output
    assert "Traceback" not in output


def test_a_bad_port_is_named_as_the_problem():
    result = db_status("postgresql://rel:S3cret@127.0.0.1:abc/econ_obs")
    assert "port that is not a number" in result.stderr
    assert "postgresql://rel:***@127.0.0.1:abc/econ_obs" in result.stderr


def test_shown_and_mask_password_hide_every_form_of_password():
    assert shown(parse_url("postgresql://rel:S3cret@db:5432/x")) == (
        "postgresql+psycopg2://rel:***@db:5432/x"
    )
    assert "S3cret" not in shown(parse_url("postgresql://db/x?password=S3cret"))
    assert mask_password("postgresql://rel:S3@cret@db/x") == "postgresql://rel:***@db/x"
    assert mask_password("postgresql://rel@db/x") == "postgresql://rel@db/x"


def test_parse_url_error_does_not_carry_the_password():
    with pytest.raises(DatabaseError) as caught:
        parse_url("postgresql://rel:S3cret@db:99999999999999999999x/x")
    assert "S3cret" not in str(caught.value)
