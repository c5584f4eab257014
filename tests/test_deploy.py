"""Deploy as a new user does: `sam deploy --guided`, Enter at every question, and the
non-interactive `sam deploy` with the committed samconfig.toml, both driven for real (the
SAM CLI of `make sam-check`, pexpect on a terminal) until they call AWS.

AWS is a loopback HTTP server standing in for every endpoint (AWS_ENDPOINT_URL) that
records each request and answers as AWS answers unknown credentials (403
InvalidClientTokenId), so the run stops at its first AWS call. The questions asked, with
their defaults, must be the ones docs/deploy.md lists, in that order.

Needs the SAM CLI (.venv-sam, or $SAM_CLI): `make sam-check` runs this module after its
builds; elsewhere it is skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAM = Path(os.environ.get("SAM_CLI", ROOT / ".venv-sam" / "bin" / "sam")).resolve()
pexpect = pytest.importorskip("pexpect")
pytestmark = pytest.mark.skipif(not SAM.exists(), reason="needs the SAM CLI venv: `make sam-check` runs this")

# A question as SAM writes it: a tab, the label in bold, an optional [default], ": "
# (SAM's other tab-indented lines are not bold).
QUESTION = re.compile(r"\n\t\x1b\[1m(?P<label>[^\r\n\t\x1b]+)\x1b\[0m(?: \[(?P<default>[^\]\r\n]*)\])?: ")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
MAX_QUESTIONS = 60  # a question asked again and again (an empty answer refused) ends the run


class FakeAws(ThreadingHTTPServer):
    """Every AWS endpoint at once: keeps each request, refuses the credentials."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("content-length", 0))).decode("utf-8", "replace")
        self.server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        error = (
            b"<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code>"
            b"<Message>The security token included in the request is invalid.</Message></Error>"
            b"<RequestId>0</RequestId></ErrorResponse>"
        )
        self.send_response(403)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(error)))
        self.end_headers()
        self.wfile.write(error)

    do_GET = do_POST

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def aws():
    server = FakeAws()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def project(tmp_path) -> Path:
    """A checkout as a user has it: template, samconfig.toml, the code they point at."""
    folder = tmp_path / "gigatile"
    folder.mkdir()
    for name in ("template.yaml", "samconfig.toml"):
        shutil.copy(ROOT / name, folder / name)
    for name in ("functions", "layers"):
        (folder / name).symlink_to(ROOT / name)
    return folder


def environment(tmp_path: Path, aws: FakeAws, **extra: str) -> dict[str, str]:
    """Valid-looking credentials, no AWS configuration files, no instance metadata, no
    region unless given, every endpoint the fake one."""
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(
        HOME=str(home),
        AWS_CONFIG_FILE=str(home / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-credentials"),
        AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE",
        AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_ENDPOINT_URL=aws.url,
        AWS_MAX_ATTEMPTS="1",
        SAM_CLI_TELEMETRY="0",
        TERM="dumb",
        **extra,
    )
    return env


def documented_questions() -> list[tuple[str, str]]:
    """The (question, default) rows of docs/deploy.md's guided-deploy table."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    table = text.split("<!-- guided-deploy-questions -->")[1]
    rows = []
    for line in table.strip().splitlines():
        if not line.startswith("|"):
            break
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        if cells[0] in ("question", "") or set(cells[0]) <= {"-"}:
            continue
        rows.append((cells[0], "" if cells[1] == "(empty)" else cells[1]))
    return rows


def drive(args: list[str], cwd: Path, env: dict, aws: FakeAws) -> tuple[list[tuple[str, str | None]], str, int]:
    """Run SAM, press Enter at every question; (questions with their defaults, the
    transcript without colours, exit status). Asserts no AWS request came before the
    last question was answered."""
    child = pexpect.spawn(str(SAM), args, cwd=str(cwd), env=env, encoding="utf-8", timeout=120)
    asked: list[tuple[str, str | None]] = []
    transcript = ""
    try:
        while child.expect([QUESTION, pexpect.EOF]) == 0:
            assert not aws.requests, f"AWS called before the questions were done: {asked}"
            asked.append((child.match.group("label").strip(), child.match.group("default")))
            transcript += child.before + child.after
            assert len(asked) <= MAX_QUESTIONS, f"asked again and again: {asked[-3:]}"
            child.sendline("")
        transcript += child.before
    finally:
        child.close(force=True)
    return asked, ANSI.sub("", transcript), child.exitstatus


def assert_stopped_at_the_managed_stack_lookup(aws: FakeAws, transcript: str, status: int, region: str) -> None:
    """The first AWS call is SAM's look-up of its managed artifacts stack, signed for the
    region, and the refusal ends the run with AWS's error, not a SAM traceback."""
    assert aws.requests, f"no AWS call was made:\n{transcript[-2000:]}"
    first = aws.requests[0]
    call = first["headers"].get("X-Amz-Target", "") + first["body"]
    assert "DescribeStacks" in call and "aws-sam-cli-managed-default" in call, call
    assert f"/{region}/cloudformation/aws4_request" in first["headers"]["Authorization"]
    assert status != 0
    assert "InvalidClientTokenId" in transcript or "security token" in transcript, transcript[-2000:]
    assert "Traceback" not in transcript


def test_guided_deploy_with_every_default_reaches_aws(project, tmp_path, aws):
    asked, transcript, status = drive(["deploy", "--guided"], project, environment(tmp_path, aws), aws)
    assert all(default is not None for _, default in asked), f"a question without a default: {asked}"
    assert asked == documented_questions()
    assert "Looking for resources needed for deployment" in transcript
    assert_stopped_at_the_managed_stack_lookup(aws, transcript, status, "us-east-1")


def test_guided_deploy_offers_the_configured_region(project, tmp_path, aws):
    env = environment(tmp_path, aws, AWS_DEFAULT_REGION="eu-central-1")
    asked, transcript, status = drive(["deploy", "--guided"], project, env, aws)
    assert ("AWS Region", "eu-central-1") in asked
    assert_stopped_at_the_managed_stack_lookup(aws, transcript, status, "eu-central-1")


def test_samconfig_deploy_asks_nothing_and_reaches_aws(project, tmp_path, aws):
    env = environment(tmp_path, aws, AWS_DEFAULT_REGION="eu-west-1")
    asked, transcript, status = drive(["deploy"], project, env, aws)
    assert asked == []
    assert_stopped_at_the_managed_stack_lookup(aws, transcript, status, "eu-west-1")
