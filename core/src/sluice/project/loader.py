"""Reading a project directory into a validated :class:`Project`.

Files are discovered recursively and in sorted order (so results never depend on the file
system), every entity is validated where it was written, and all errors of a pass are reported
together with their file, line and column.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from sluice.errors import Location, ProjectError, ProjectErrors, did_you_mean
from sluice.hints import distribution_for_section, unavailable
from sluice.memory import collector_paused
from sluice.plugin.api import ConfigSection
from sluice.project import schema
from sluice.project.files import ENV_VAR, FOLDERS, PROJECT_FILES, discover
from sluice.project.validation import validate
from sluice.project.variables import Redactor, Variables, secret_values
from sluice.project.yamlfile import YamlDocument, YamlPath, parse_yaml

_KIND_MODEL: dict[str, type[BaseModel]] = {
    "sources": schema.Source,
    "models": schema.Model,
    "tests": schema.DataTest,
    "exposures": schema.Exposure,
}
_KIND_SCOPE = {"sources": "source", "models": "model", "tests": "test", "exposures": "exposure"}


@dataclass(frozen=True)
class Origin:
    """Where an entity was written: its document and its path inside it."""

    doc: YamlDocument
    path: YamlPath
    sql_file: str | None = None  # for models whose SQL lives in a .sql file

    @property
    def file(self) -> str:
        return self.sql_file or self.doc.file

    def locate(self, *keys: str | int, key: bool = False) -> Location:
        if self.sql_file and self.doc.data is None:  # a model that is only a .sql file
            return Location(self.sql_file, 1, 1)
        path = (*self.path, *keys)
        return self.doc.locate((*path, "__key__") if key else path)

    def sql_location(self) -> Location:
        """Where line 1 of the entity's SQL text is."""
        return self.sql_at(1, 1)

    def sql_at(self, line: int, column: int | None = None) -> Location:
        """The file position of ``line``/``column`` (1-based) of the entity's SQL text.

        In a .sql file they are the same; in YAML the text starts below a block scalar's ``|``
        and is indented, or starts after ``sql:`` on the key's line.
        """
        if self.sql_file:
            return Location(self.sql_file, line, column)
        path = (*self.path, "sql")
        first = self.doc.text_start(path)
        if column is not None:
            block = self.doc.positions[path].block if path in self.doc.positions else False
            if block or line == 1:
                column += self.doc.text_column(path) - 1
        return Location(self.doc.file, first + line - 1, column)


@dataclass(frozen=True)
class MacroFile:
    file: str
    text: str


@dataclass(frozen=True)
class Project:
    """A validated project: the first value of sluice's pipeline."""

    root: Path
    env: str | None
    info: schema.ProjectInfo
    runtime: Mapping[str, BaseModel]
    defaults: schema.Defaults
    governance: schema.Governance
    environment: schema.Environment
    vars: Mapping[str, Any]
    sources: Mapping[str, schema.Source]
    models: Mapping[str, schema.Model]
    tests: Mapping[str, schema.DataTest]
    exposures: Mapping[str, schema.Exposure]
    macros: tuple[MacroFile, ...]
    origins: Mapping[str, Origin]  # unique id -> where it was written
    variables: Variables
    redact: Redactor
    file_hashes: Mapping[str, str] = field(default_factory=dict)

    @property
    def protected(self) -> bool:
        return self.environment.protected

    def origin(self, unique_id: str) -> Origin:
        return self.origins[unique_id]


class _Collector:
    def __init__(self) -> None:
        self.errors: list[ProjectError] = []

    def add(self, *errors: ProjectError) -> None:
        self.errors.extend(errors)

    def raise_if_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise ProjectErrors(self.errors)


def find_project_file(root: Path) -> Path:
    for name in PROJECT_FILES:
        if (root / name).is_file():
            return root / name
    raise ProjectError(
        f"no stream_project.yml in {root}",
        hint="run sluice in a project directory, pass --project-dir, or create one with "
        "`sluice init`",
    )


def load_project(
    root: Path,
    *,
    env: str | None = None,
    sections: Sequence[tuple[str, ConfigSection]] = (),
    environ: Mapping[str, str] | None = None,
    yaml_cache: dict[str, YamlDocument] | None = None,
) -> Project:
    """Read, interpolate and validate the project in ``root``."""
    with collector_paused():
        return _load(root, env, sections, environ, yaml_cache)


def _load(
    root: Path,
    env: str | None,
    sections: Sequence[tuple[str, ConfigSection]],
    environ: Mapping[str, str] | None,
    yaml_cache: dict[str, YamlDocument] | None,
) -> Project:
    root = root.resolve()
    environ = os.environ if environ is None else environ
    env = env or environ.get(ENV_VAR) or None
    variables = Variables.for_project(root, env, environ)
    reader = _Reader(root, yaml_cache)
    errors = _Collector()

    project_path = find_project_file(root)
    project_doc = reader.read(project_path)
    raw = project_doc.data
    if not isinstance(raw, dict):
        raise ProjectError(
            "stream_project.yml must be a mapping with at least a 'project:' key",
            location=Location(project_doc.file, 1, 1),
            hint="start it with:\nproject:\n  name: my-project",
        )
    # SQL is Jinja, and blocks whose plugin resolves variables itself: ${...} stays as written
    sql_keys = {"sql"} | {s.key for _, s in sections if s.scope != "runtime" and s.keep_variables}
    raw = _interpolate(raw, project_doc, variables, sql_keys)
    header = {k: v for k, v in raw.items() if k not in FOLDERS}
    top, top_errors = validate(
        schema.ProjectFile,
        {**header, **{k: [] for k in FOLDERS if k in raw}},
        project_doc,
        (),
        "stream_project.yml",
    )
    errors.add(*top_errors)
    errors.raise_if_any()
    assert top is not None

    environment = schema.Environment()
    runtime_raw = dict(top.runtime)
    runtime_doc, runtime_base = project_doc, ("runtime",)
    vars_: dict[str, Any] = dict(top.vars)
    if env:
        env_path = root / "environments" / f"{env}.yml"
        if env_path.is_file():
            env_doc = reader.read(env_path)
            if not isinstance(env_doc.data, dict | None):
                raise ProjectError(
                    f"environment '{env}' must be a mapping",
                    location=Location(env_doc.file, 1, 1),
                    hint="its keys are protected, allow_destructive, runtime and vars",
                )
            env_raw = _interpolate(env_doc.data or {}, env_doc, variables, sql_keys)
            parsed, env_errors = validate(
                schema.Environment, env_raw, env_doc, (), f"environment '{env}'"
            )
            errors.add(*env_errors)
            if parsed is not None:
                environment = parsed
                runtime_raw = _deep_merge(runtime_raw, parsed.runtime)
                vars_.update(parsed.vars)
        elif (root / "environments").is_dir():
            known = sorted(p.stem for p in (root / "environments").glob("*.yml"))
            raise ProjectError(
                f"environment '{env}' has no file environments/{env}.yml",
                hint=did_you_mean(env, known)
                or f"known environments: {', '.join(known) or 'none'}",
            )

    by_scope: dict[str, dict[str, tuple[str, ConfigSection]]] = {}
    for plugin, section in sections:
        by_scope.setdefault(section.scope, {})[section.key] = (plugin, section)

    runtime = _validate_runtime(
        runtime_raw, runtime_doc, runtime_base, by_scope.get("runtime", {}), errors
    )

    entities: dict[str, list[tuple[dict[str, Any], Origin]]] = {k: [] for k in FOLDERS}
    for kind in FOLDERS:
        for index, item in enumerate(raw.get(kind) or []):
            entities[kind].append((item, Origin(project_doc, (kind, index))))
    sql_files: list[tuple[str, Path]] = []
    for folder in FOLDERS.values():
        for path in reader.discover(folder):
            if path.suffix == ".sql":
                sql_files.append((path.stem, path))
                continue
            doc = reader.read(path)
            data = doc.data
            if data is None:
                continue
            if not isinstance(data, dict):
                errors.add(
                    ProjectError(
                        "expected a mapping with sources:, models:, tests: or exposures:",
                        location=Location(doc.file, 1, 1),
                    )
                )
                continue
            data = _interpolate(data, doc, variables, sql_keys)
            for key, items in data.items():
                if key not in FOLDERS:
                    errors.add(
                        ProjectError(
                            f"unknown key '{key}'",
                            location=doc.locate((key, "__key__")),
                            hint=did_you_mean(str(key), FOLDERS)
                            or "a file here holds sources:, models:, tests: and exposures: lists",
                        )
                    )
                    continue
                if not isinstance(items, list):
                    errors.add(ProjectError(f"'{key}' must be a list", location=doc.locate((key,))))
                    continue
                for index, item in enumerate(items):
                    entities[key].append((item, Origin(doc, (key, index))))

    validated: dict[str, dict[str, Any]] = {k: {} for k in FOLDERS}
    origins: dict[str, Origin] = {}
    for kind, items in entities.items():
        for item, origin in items:
            spec = _validate_entity(kind, item, origin, by_scope.get(_KIND_SCOPE[kind], {}), errors)
            if spec is None:
                continue
            prefix = _KIND_SCOPE[kind]
            uid = f"{prefix}.{spec.name}"
            if spec.name in validated[kind]:
                errors.add(
                    ProjectError(
                        f"{prefix} '{spec.name}' is defined twice (also at {origins[uid].locate()})",
                        location=origin.locate("name"),
                        hint="names must be unique; rename or remove one of them",
                    )
                )
                continue
            validated[kind][spec.name] = spec
            origins[uid] = origin

    _attach_sql_files(sql_files, reader, validated["models"], origins, errors, root)

    for name in validated["sources"].keys() & validated["models"].keys():
        errors.add(
            ProjectError(
                f"'{name}' is both a source and a model",
                location=origins[f"model.{name}"].locate("name"),
                hint=f"sources and models share one namespace; rename the model (the source is at {origins[f'source.{name}'].locate()})",
            )
        )

    macros = tuple(
        MacroFile(str(p.relative_to(root).as_posix()), p.read_text(encoding="utf-8"))
        for p in reader.discover("macros")
        if p.suffix == ".sql"
    )

    errors.raise_if_any()
    variables.raise_missing()
    redact = Redactor(variables.secrets)
    for secret in secret_values(runtime.values()):
        redact.add(secret)
    return Project(
        root=root,
        env=env,
        info=top.project,
        runtime=runtime,
        defaults=top.defaults,
        governance=top.governance,
        environment=environment,
        vars=vars_,
        sources=validated["sources"],
        models=validated["models"],
        tests=validated["tests"],
        exposures=validated["exposures"],
        macros=macros,
        origins=origins,
        variables=variables,
        redact=redact,
        file_hashes=reader.hashes,
    )


class _Reader:
    """Reads project files, reusing parsed documents whose content hash is unchanged."""

    def __init__(self, root: Path, cache: dict[str, YamlDocument] | None) -> None:
        self.root = root
        self.cache = cache if cache is not None else {}
        self.hashes: dict[str, str] = {}

    def display(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def read_bytes(self, path: Path) -> tuple[str, bytes]:
        data = path.read_bytes()
        digest = hashlib.sha1(data).hexdigest()
        self.hashes[self.display(path)] = digest
        return digest, data

    def read(self, path: Path) -> YamlDocument:
        digest, data = self.read_bytes(path)
        display = self.display(path)
        key = f"{display}:{digest}"
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProjectError(
                f"file is not UTF-8 text ({exc.reason})", location=Location(display)
            ) from None
        doc = parse_yaml(text, display)
        self.cache[key] = doc
        return doc

    def discover(self, folder: str) -> list[Path]:
        return discover(self.root, folder)


def _interpolate(data: Any, doc: YamlDocument, variables: Variables, skip: set[str]) -> Any:
    def walk(value: Any, path: YamlPath) -> Any:
        if isinstance(value, str):
            return variables.interpolate(value, doc.locate(path)) if "$" in value else value
        if isinstance(value, dict):
            return {k: (v if k in skip else walk(v, (*path, k))) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        return value

    return walk(data, ())


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _missing_plugin_error(
    scope: str, key: str, location: Location, owned: Sequence[str]
) -> ProjectError:
    dist = distribution_for_section(scope, key)
    where = f"runtime.{key}" if scope == "runtime" else f"'{key}:'"
    if dist:
        why, fix = unavailable(dist)
        return ProjectError(
            f"{where} needs the plugin distribution '{dist}', {why}", location=location, hint=fix
        )
    hint = did_you_mean(key, owned) or (
        f"known keys here: {', '.join(sorted(owned))}" if owned else "no installed plugin owns it"
    )
    return ProjectError(
        f"unknown key '{key}' in {'runtime' if scope == 'runtime' else scope}",
        location=location,
        hint=hint,
    )


def _validate_runtime(
    raw: Mapping[str, Any],
    doc: YamlDocument,
    base: YamlPath,
    owned: Mapping[str, tuple[str, ConfigSection]],
    errors: _Collector,
) -> dict[str, BaseModel]:
    runtime: dict[str, BaseModel] = {}
    for key in sorted(raw):
        value = raw[key]
        if key not in owned:
            errors.add(
                _missing_plugin_error(
                    "runtime", key, doc.locate((*base, key, "__key__")), list(owned)
                )
            )
            continue
        if value is None:
            value = {}
        _plugin, section = owned[key]
        model, problems = validate(section.model, value, doc, (*base, key), f"runtime.{key}")
        errors.add(*problems)
        if model is not None:
            runtime[key] = model
    return runtime


def _validate_entity(
    kind: str,
    item: Any,
    origin: Origin,
    owned: Mapping[str, tuple[str, ConfigSection]],
    errors: _Collector,
) -> Any:
    what = kind[:-1]
    if not isinstance(item, dict):
        errors.add(
            ProjectError(f"each entry of '{kind}' must be a mapping", location=origin.locate())
        )
        return None
    if isinstance(item.get("name"), str):
        what = f"{what} '{item['name']}'"
    model = _KIND_MODEL[kind]
    core_keys = {(f.alias or n) for n, f in model.model_fields.items() if not f.exclude}
    core = {k: v for k, v in item.items() if k in core_keys}
    extensions: dict[str, Any] = {}
    misspelt: set[str] = set()  # keys suggested for unknown ones: "missing" would repeat them
    scope = _KIND_SCOPE[kind]
    for key, value in item.items():
        if key in core_keys:
            continue
        if key in owned:
            section = owned[key][1]
            parsed, problems = validate(
                section.model,
                value if value is not None else {},
                origin.doc,
                (*origin.path, key),
                f"{what}: {key}",
            )
            errors.add(*problems)
            if parsed is not None:
                extensions[key] = parsed
        elif distribution_for_section(scope, str(key)) is not None:
            errors.add(_missing_plugin_error(scope, str(key), origin.locate(key, key=True), []))
        else:
            hint = did_you_mean(str(key), [*core_keys, *owned])
            if hint:
                misspelt.add(hint.split("'")[1])
            errors.add(
                ProjectError(
                    f"unknown key '{key}' in {what}",
                    location=origin.locate(key, key=True),
                    hint=hint or "allowed keys: " + ", ".join(sorted({*core_keys, *owned})),
                )
            )
    spec, problems = validate(model, core, origin.doc, origin.path, what)
    errors.add(
        *(
            p
            for p in problems
            if not any(p.message.endswith(f"missing the required key '{k}'") for k in misspelt)
        )
    )
    if spec is None:
        return None
    if isinstance(spec, schema.DataTest):
        _check_assertions(spec, origin, errors)
    if extensions:
        spec = spec.model_copy(update={"extensions": extensions})
    return spec


def _check_assertions(test: schema.DataTest, origin: Origin, errors: _Collector) -> None:
    for index, assertion in enumerate(test.assertions):
        path = ("assertions", index)
        if len(assertion) != 1:
            errors.add(
                ProjectError(
                    f"test '{test.name}': each assertion is a one-key mapping such as "
                    "'not_null: {columns: [id]}'",
                    location=origin.locate(*path),
                )
            )
            continue
        ((kind, args),) = assertion.items()
        model = schema.ASSERTIONS.get(kind)
        if model is None:
            errors.add(
                ProjectError(
                    f"test '{test.name}': unknown assertion '{kind}'",
                    location=origin.locate(*path, kind, key=True),
                    hint=did_you_mean(kind, schema.ASSERTIONS)
                    or "known assertions: " + ", ".join(schema.ASSERTIONS),
                )
            )
            continue
        _, problems = validate(
            model,
            args if args is not None else {},
            origin.doc,
            (*origin.path, *path, kind),
            f"test '{test.name}': {kind}",
        )
        errors.add(*problems)


def _attach_sql_files(
    sql_files: Sequence[tuple[str, Path]],
    reader: _Reader,
    models: dict[str, Any],
    origins: dict[str, Origin],
    errors: _Collector,
    root: Path,
) -> None:
    for name, path in sql_files:
        display = reader.display(path)
        _digest, data = reader.read_bytes(path)
        text = data.decode("utf-8", errors="replace")
        uid = f"model.{name}"
        existing = models.get(name)
        if existing is None:
            try:
                models[name] = schema.Model(name=name, sql=text)
            except Exception:
                errors.add(
                    ProjectError(
                        f"'{path.name}' does not name a valid model",
                        location=Location(display),
                        hint="model names are letters, digits and underscores, starting with a letter",
                    )
                )
                continue
            origins[uid] = Origin(YamlDocument(display, None), (), sql_file=display)
            continue
        if existing.sql is not None:
            errors.add(
                ProjectError(
                    f"model '{name}' has SQL both in {display} and in its YAML",
                    location=origins[uid].locate("sql"),
                    hint=f"keep one: remove 'sql:' from the YAML or delete {display}",
                )
            )
            continue
        models[name] = existing.model_copy(update={"sql": text})
        old = origins[uid]
        origins[uid] = Origin(old.doc, old.path, sql_file=display)
