"""The Dockerfile, without pulling its base images: its build stage's cargo command is
run here (scripts/test.sh runs this in CI, so the image builds what CI builds), and the
files its runtime stage copies out of the build stage must exist afterwards."""

import fnmatch
import os
import pathlib
import shlex
import subprocess
import tomllib

import pytest

from conftest import ROOT


def instructions(text):
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments out."""
    out, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or not stripped:
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        word, _, rest = current.partition(" ")
        out.append((word.upper(), rest.strip()))
        current = ""
    return out


def stages(text):
    """Each stage's name and its instructions; ARGs before the first FROM are defaults."""
    args, result = {}, []
    for word, rest in instructions(text):
        if word == "ARG" and not result:
            name, _, default = rest.partition("=")
            args[name] = default
        elif word == "FROM":
            parts = rest.split()
            image = parts[0]
            for name, value in args.items():
                image = image.replace("${" + name + "}", value)
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            result.append({"name": name, "image": image, "steps": []})
        else:
            result[-1]["steps"].append((word, rest))
    return result


DOCKERFILE = (ROOT / "Dockerfile").read_text()
STAGES = stages(DOCKERFILE)
BUILD, RUNTIME = STAGES[0], STAGES[-1]


def step(stage, word):
    return [rest for w, rest in stage["steps"] if w == word]


def cargo_command():
    runs = [r for r in step(BUILD, "RUN") if r.startswith("cargo ")]
    assert len(runs) == 1, runs
    return shlex.split(runs[0])


def copies_from_build():
    """(source in the build stage, destination) of each COPY --from=<build stage>."""
    out = []
    for rest in step(RUNTIME, "COPY"):
        words = rest.split()
        if words[0] == f"--from={BUILD['name']}":
            out.append((words[1], words[2]))
    assert out, "the runtime stage copies nothing from the build stage"
    return out


def test_two_stages_and_a_non_root_runtime():
    assert len(STAGES) == 2 and BUILD["name"]
    assert "distroless" in RUNTIME["image"], RUNTIME["image"]
    (user,) = step(RUNTIME, "USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "runAsNonRoot needs a numeric, non-root user"
    (entry,) = step(RUNTIME, "ENTRYPOINT")
    binary = shlex.split(entry.strip("[]").replace(",", " "))[0]
    assert binary in [dest for _, dest in copies_from_build()]
    assert not step(RUNTIME, "RUN"), "the runtime image has no shell to RUN with"


def test_build_command_is_the_release_build():
    assert cargo_command() == ["cargo", "build", "--release", "--locked", "-p", "sluice"]
    assert step(BUILD, "COPY") == [". ."]


def excluded(path, patterns):
    """Whether a .dockerignore (patterns in order, `!` re-includes) leaves `path` out:
    a pattern excludes the paths it matches and everything below them."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    out = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        candidates = [pattern] + ([pattern[3:]] if pattern.startswith("**/") else [])
        if any(fnmatch.fnmatchcase(p, c) for p in prefixes for c in candidates):
            out = not negate
    return out


def dockerignore():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerignore_keeps_what_the_build_needs():
    patterns = dockerignore()
    assert excluded("crates/sluice/src/main.rs", ["crates"])  # the matcher can say yes
    assert excluded("target/release/sluice", patterns)
    workspace = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]
    tracked = subprocess.run(
        ["git", "ls-files", "Cargo.toml", "Cargo.lock", *workspace["members"]],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()
    assert "Cargo.lock" in tracked and len(tracked) > 50
    left_out = [p for p in tracked if excluded(p, patterns)]
    assert not left_out, f".dockerignore leaves out files the build needs: {left_out[:10]}"


@pytest.fixture(scope="module")
def built():
    """Runs the build stage's command in the checkout, as `COPY . .` puts it in the
    stage's WORKDIR (without CARGO_TARGET_DIR, which the image does not set)."""
    env = {k: v for k, v in os.environ.items() if k != "CARGO_TARGET_DIR"}
    subprocess.run(cargo_command(), cwd=ROOT, env=env, check=True)
    (workdir,) = step(BUILD, "WORKDIR")
    return pathlib.PurePosixPath(workdir)


def test_copied_files_exist_after_the_build(built):
    for source, _ in copies_from_build():
        relative = pathlib.PurePosixPath(source).relative_to(built)
        path = ROOT / relative
        assert path.is_file() and os.access(path, os.X_OK), f"{source}: no {path}"


def test_binary_prints_version_and_commit(built):
    source, _ = copies_from_build()[0]
    binary = ROOT / pathlib.PurePosixPath(source).relative_to(built)
    version = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["version"]
    commit = subprocess.run(
        ["git", "rev-parse", "--short=9", "HEAD"], cwd=ROOT, capture_output=True,
        text=True, check=True,
    ).stdout.strip()
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"sluice {version} (commit {commit})"


# What gcr.io/distroless/cc provides: glibc, libgcc; no libssl or anything else.
RUNTIME_LIBRARIES = {
    "linux-vdso.so.1", "libc.so.6", "libm.so.6", "libgcc_s.so.1", "libpthread.so.0",
    "libdl.so.2", "librt.so.1", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1",
}


def test_binary_needs_only_the_c_runtime(built):
    source, _ = copies_from_build()[0]
    binary = ROOT / pathlib.PurePosixPath(source).relative_to(built)
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    libraries = {pathlib.Path(line.split()[0]).name for line in out.splitlines() if line.strip()}
    assert libraries <= RUNTIME_LIBRARIES, libraries - RUNTIME_LIBRARIES
