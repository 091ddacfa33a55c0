"""The API contract follows buf STANDARD (+ COMMENTS) lint.

Two layers:
* `buf lint` / `buf format` with protos/buf.yaml when a buf binary is available (skipped
  otherwise, with the install command in the reason);
* a pure-Python check of the key STANDARD rules on the FileDescriptorProtos of the
  generated modules, plus the COMMENTS rules on a descriptor set compiled with source info,
  so the contract is checked on machines without buf.
"""

from __future__ import annotations

import importlib
import importlib.resources
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[1]
PROTO_ROOT = ROOT / "protos"
PROTO_DIR = PROTO_ROOT / "prioscore" / "v1"
PACKAGE = "prioscore.v1"
BUF_INSTALL = "npm install --prefix .tools/buf @bufbuild/buf  (or put buf on PATH / set BUF)"

PASCAL = re.compile(r"^[A-Z][a-zA-Z0-9]*$")
LOWER_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
UPPER_SNAKE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")
FDP = descriptor_pb2.FieldDescriptorProto


# --------------------------------------------------------------------------------- buf


def _find_buf() -> str | None:
    candidates = [
        os.environ.get("BUF", ""),
        shutil.which("buf") or "",
        str(ROOT / ".tools" / "buf" / "node_modules" / ".bin" / "buf"),
    ]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    return None


def _run_buf(*args: str) -> subprocess.CompletedProcess[str]:
    buf = _find_buf()
    if buf is None:
        pytest.skip(f"buf is not installed; install it with: {BUF_INSTALL}")
    return subprocess.run(
        [buf, *args], cwd=PROTO_ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_buf_lint() -> None:
    proc = _run_buf("lint")
    assert proc.returncode == 0, f"buf lint (protos/buf.yaml):\n{proc.stdout}{proc.stderr}"


def test_buf_format() -> None:
    proc = _run_buf("format", "--diff", "--exit-code")
    assert proc.returncode == 0, f"run `buf format -w protos`:\n{proc.stdout}{proc.stderr}"


# ---------------------------------------------------------------- pure-Python STANDARD


def upper_snake(name: str) -> str:
    """PascalCase -> UPPER_SNAKE the way buf derives enum value prefixes."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.upper()


def _messages(
    messages: Iterable[descriptor_pb2.DescriptorProto], prefix: str
) -> Iterator[tuple[str, descriptor_pb2.DescriptorProto]]:
    for m in messages:
        full = f"{prefix}.{m.name}"
        yield full, m
        yield from _messages(m.nested_type, full)


def _enums(
    file: descriptor_pb2.FileDescriptorProto,
) -> Iterator[tuple[str, descriptor_pb2.EnumDescriptorProto]]:
    for e in file.enum_type:
        yield f"{file.package}.{e.name}", e
    for full, m in _messages(file.message_type, file.package):
        for e in m.enum_type:
            yield f"{full}.{e.name}", e


def _real_oneofs(m: descriptor_pb2.DescriptorProto) -> Iterator[tuple[int, str]]:
    """Oneofs written in the .proto (not the synthetic ones of proto3 `optional`)."""
    for i, o in enumerate(m.oneof_decl):
        members = [f for f in m.field if f.HasField("oneof_index") and f.oneof_index == i]
        if not all(f.proto3_optional for f in members):
            yield i, o.name


def standard_violations(files: list[descriptor_pb2.FileDescriptorProto]) -> list[str]:
    """Key buf STANDARD rules; returns one line per violation."""
    out: list[str] = []
    rpc_types: dict[str, list[str]] = {}
    for f in files:
        where = f.name
        directory, _, base = f.name.rpartition("/")
        if not LOWER_SNAKE.match(base.removesuffix(".proto")):
            out.append(f"{where}: FILE_LOWER_SNAKE_CASE: file name must be lower_snake_case")
        if f.package != PACKAGE:
            out.append(f"{where}: package {f.package!r} must be {PACKAGE!r}")
        if directory != f.package.replace(".", "/"):
            out.append(f"{where}: PACKAGE_DIRECTORY_MATCH: must live in {f.package}/")
        if f.syntax != "proto3":
            out.append(f"{where}: syntax must be proto3")
        if f.public_dependency or f.weak_dependency:
            out.append(f"{where}: IMPORT_NO_PUBLIC/WEAK: no public or weak imports")
        if "google/protobuf/empty.proto" in f.dependency:
            out.append(f"{where}: google.protobuf.Empty is not allowed (use XRequest/XResponse)")

        for full, m in _messages(f.message_type, f.package):
            if not PASCAL.match(m.name):
                out.append(f"{where}: MESSAGE_PASCAL_CASE: {full}")
            for field in m.field:
                if not LOWER_SNAKE.match(field.name):
                    out.append(f"{where}: FIELD_LOWER_SNAKE_CASE: {full}.{field.name}")
                if field.type_name == ".google.protobuf.Empty":
                    out.append(f"{where}: google.protobuf.Empty used by {full}.{field.name}")
                if field.label == FDP.LABEL_REQUIRED:
                    out.append(f"{where}: FIELD_NOT_REQUIRED: {full}.{field.name}")
            for _, oneof in _real_oneofs(m):
                if not LOWER_SNAKE.match(oneof):
                    out.append(f"{where}: ONEOF_LOWER_SNAKE_CASE: {full}.{oneof}")

        for full, e in _enums(f):
            if not PASCAL.match(e.name):
                out.append(f"{where}: ENUM_PASCAL_CASE: {full}")
            if e.options.allow_alias:
                out.append(f"{where}: ENUM_NO_ALLOW_ALIAS: {full}")
            prefix = upper_snake(e.name) + "_"
            if not e.value or e.value[0].number != 0:
                out.append(f"{where}: ENUM_FIRST_VALUE_ZERO: {full}")
            elif e.value[0].name != prefix + "UNSPECIFIED":
                out.append(
                    f"{where}: ENUM_ZERO_VALUE_SUFFIX: {full}.{e.value[0].name} "
                    f"must be {prefix}UNSPECIFIED"
                )
            for v in e.value:
                if not UPPER_SNAKE.match(v.name):
                    out.append(f"{where}: ENUM_VALUE_UPPER_SNAKE_CASE: {full}.{v.name}")
                if not v.name.startswith(prefix):
                    out.append(f"{where}: ENUM_VALUE_PREFIX: {full}.{v.name} needs {prefix}")

        for s in f.service:
            if not PASCAL.match(s.name):
                out.append(f"{where}: SERVICE_PASCAL_CASE: {s.name}")
            if not s.name.endswith("Service"):
                out.append(f"{where}: SERVICE_SUFFIX: {s.name} must end in Service")
            for rpc in s.method:
                label = f"{s.name}.{rpc.name}"
                if not PASCAL.match(rpc.name):
                    out.append(f"{where}: RPC_PASCAL_CASE: {label}")
                for type_name, suffix in (
                    (rpc.input_type, "Request"),
                    (rpc.output_type, "Response"),
                ):
                    expected = f".{f.package}.{rpc.name}{suffix}"
                    if type_name != expected:
                        out.append(
                            f"{where}: RPC_{suffix.upper()}_STANDARD_NAME: {label} uses "
                            f"{type_name.lstrip('.')}, must be {expected.lstrip('.')}"
                        )
                    rpc_types.setdefault(type_name, []).append(label)
    for type_name, users in sorted(rpc_types.items()):
        if len(users) > 1:
            out.append(
                f"RPC_REQUEST_RESPONSE_UNIQUE: {type_name.lstrip('.')} used by {', '.join(users)}"
            )
    return out


# ------------------------------------------------------------------- COMMENTS (source)

# Field numbers of the descriptor.proto messages, as used in SourceCodeInfo paths.
_FILE_MESSAGE, _FILE_ENUM, _FILE_SERVICE = 4, 5, 6
_MSG_FIELD, _MSG_NESTED, _MSG_ENUM, _MSG_ONEOF = 2, 3, 4, 8
_ENUM_VALUE, _SERVICE_METHOD = 2, 2


def _commentable(
    f: descriptor_pb2.FileDescriptorProto,
) -> Iterator[tuple[tuple[int, ...], str]]:
    """(SourceCodeInfo path, label) of everything COMMENTS requires a leading comment on."""

    def enum(path: tuple[int, ...], e: descriptor_pb2.EnumDescriptorProto, full: str):
        yield path, f"enum {full}"
        for i, v in enumerate(e.value):
            yield (*path, _ENUM_VALUE, i), f"enum value {full}.{v.name}"

    def message(path: tuple[int, ...], m: descriptor_pb2.DescriptorProto, full: str):
        if m.options.map_entry:
            return
        yield path, f"message {full}"
        for i, field in enumerate(m.field):
            yield (*path, _MSG_FIELD, i), f"field {full}.{field.name}"
        for i, oneof in _real_oneofs(m):
            yield (*path, _MSG_ONEOF, i), f"oneof {full}.{oneof}"
        for i, nested in enumerate(m.nested_type):
            yield from message((*path, _MSG_NESTED, i), nested, f"{full}.{nested.name}")
        for i, e in enumerate(m.enum_type):
            yield from enum((*path, _MSG_ENUM, i), e, f"{full}.{e.name}")

    for i, m in enumerate(f.message_type):
        yield from message((_FILE_MESSAGE, i), m, m.name)
    for i, e in enumerate(f.enum_type):
        yield from enum((_FILE_ENUM, i), e, e.name)
    for i, s in enumerate(f.service):
        yield (_FILE_SERVICE, i), f"service {s.name}"
        for j, rpc in enumerate(s.method):
            yield (_FILE_SERVICE, i, _SERVICE_METHOD, j), f"rpc {s.name}.{rpc.name}"


def comment_violations(files: list[descriptor_pb2.FileDescriptorProto]) -> list[str]:
    out: list[str] = []
    for f in files:
        comments = {
            tuple(loc.path): loc.leading_comments.strip() for loc in f.source_code_info.location
        }
        for path, label in _commentable(f):
            if not comments.get(path):
                out.append(f"{f.name}: {label} has no leading comment")
    return out


# ---------------------------------------------------------------------------- inputs


def _generated_files() -> list[descriptor_pb2.FileDescriptorProto]:
    files = []
    for proto in sorted(PROTO_DIR.glob("*.proto")):
        module = importlib.import_module(f"{PACKAGE}.{proto.stem}_pb2")
        files.append(descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb))
    return files


def _compile_with_source_info(
    proto_root: Path, protos: list[Path], out: Path
) -> list[descriptor_pb2.FileDescriptorProto]:
    descriptor_set = out / "descriptors.binpb"
    rc = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{proto_root}",
            f"-I{importlib.resources.files('grpc_tools') / '_proto'}",
            "--include_source_info",
            f"--descriptor_set_out={descriptor_set}",
            *(str(p) for p in protos),
        ]
    )
    assert rc == 0, f"protoc failed (exit {rc})"
    fds = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    return list(fds.file)


def test_generated_modules_follow_standard_lint() -> None:
    files = _generated_files()
    assert len(files) >= 4
    violations = standard_violations(files)
    assert not violations, "proto lint:\n" + "\n".join(violations)


def test_every_element_is_commented(tmp_path: Path) -> None:
    files = _compile_with_source_info(PROTO_ROOT, sorted(PROTO_DIR.glob("*.proto")), tmp_path)
    violations = comment_violations(files)
    assert not violations, "callers read only the .proto:\n" + "\n".join(violations)


def test_bulk_arrays_are_byte_views() -> None:
    """Matrix/Vector: dtype + shape/length + little-endian bytes, with a packed fallback."""
    from prioscore.v1 import types_pb2

    def fields(msg: str) -> dict[str, tuple[int, int, str]]:
        d = types_pb2.DESCRIPTOR.message_types_by_name[msg]
        return {
            f.name: (f.type, int(f.is_repeated), f.enum_type.name if f.enum_type else "")
            for f in d.fields
        }

    matrix, vector = fields("Matrix"), fields("Vector")
    for name, fs in (("Matrix", matrix), ("Vector", vector)):
        assert fs["dtype"] == (FDP.TYPE_ENUM, 0, "Dtype"), name
        assert fs["data"] == (FDP.TYPE_BYTES, 0, ""), name
        assert fs["values"] == (FDP.TYPE_DOUBLE, 1, ""), name
    assert matrix["shape"] == (FDP.TYPE_INT64, 1, "")
    assert vector["length"] == (FDP.TYPE_INT64, 0, "")


BAD_PROTO = """\
syntax = "proto3";
package prioscore.v1;
import "google/protobuf/empty.proto";
message Bad_Message { string fieldName = 1; oneof TheChoice { string a = 2; int32 b = 3; } }
enum Color { NONE = 0; COLOR_RED = 1; }
message GetThingRequest { string name = 1; }
service Things {
  rpc GetThing(GetThingRequest) returns (google.protobuf.Empty);
  rpc OtherThing(GetThingRequest) returns (Bad_Message);
}
"""


def test_checker_catches_violations(tmp_path: Path) -> None:
    """The pure-Python checker is not vacuous: a bad file trips every rule it implements."""
    src = tmp_path / "src"
    (src / "prioscore" / "v1").mkdir(parents=True)
    bad = src / "prioscore" / "v1" / "BadFile.proto"
    bad.write_text(BAD_PROTO)
    files = [
        f
        for f in _compile_with_source_info(src, [bad], tmp_path)
        if f.name == "prioscore/v1/BadFile.proto"
    ]
    report = "\n".join(standard_violations(files) + comment_violations(files))
    for rule in (
        "FILE_LOWER_SNAKE_CASE",
        "google.protobuf.Empty is not allowed",
        "MESSAGE_PASCAL_CASE",
        "FIELD_LOWER_SNAKE_CASE",
        "ONEOF_LOWER_SNAKE_CASE",
        "ENUM_ZERO_VALUE_SUFFIX",
        "ENUM_VALUE_PREFIX: prioscore.v1.Color.NONE",
        "SERVICE_SUFFIX",
        "RPC_RESPONSE_STANDARD_NAME",
        "RPC_REQUEST_STANDARD_NAME: Things.OtherThing",
        "RPC_REQUEST_RESPONSE_UNIQUE",
        "message Bad_Message has no leading comment",
        "rpc Things.GetThing has no leading comment",
    ):
        assert rule in report, f"{rule} not reported:\n{report}"


@pytest.mark.parametrize(
    ("name", "prefix"),
    [
        ("Dtype", "DTYPE"),
        ("EventKind", "EVENT_KIND"),
        ("HTTPMethod", "HTTP_METHOD"),
        ("V1Thing", "V1_THING"),
    ],
)
def test_upper_snake(name: str, prefix: str) -> None:
    assert upper_snake(name) == prefix
