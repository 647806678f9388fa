"""Settings: built-in defaults < dogbreed.toml < DOGBREED_* environment < CLI flags, as one typed object.

The sections ([project], [aws], [data], ...) and their defaults are the dataclasses of
ops/settings_sections.py; this module reads, overrides and validates them. Every key in the file
and in the environment is checked against those dataclasses, so a typo is an error, not a
silently ignored setting, and every choice (Literal) is checked on load and after each override.

Environment: DOGBREED_<SECTION>__<KEY>=value (e.g. DOGBREED_HYPERPARAMETERS__EPOCHS=3), plus the
shortcuts DOGBREED_BACKEND and DOGBREED_CONFIG (the settings file to read).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ops.errors import DogbreedError
from ops.hyperparameters import check_hyperparameters
from ops.settings_bounds import check_bounds
from ops.settings_sections import (
    AwsSettings,
    DataSettings,
    DeploySettings,
    EvaluateSettings,
    Hyperparameters,
    LocalSettings,
    ProjectSettings,
    ServeSettings,
    TuningSettings,
)

SETTINGS_FILE = "dogbreed.toml"
ARCHIVE_CAPS = tuple(
    f"{section}.{prefix}_max_{cap}"
    for section, prefix in (("data", "archive"), ("local", "artifact"))
    for cap in ("members", "file_mb", "total_mb")
)


@dataclass
class Settings:
    """Every section, the settings file that was read, and where each value came from."""

    project: ProjectSettings = field(default_factory=ProjectSettings)
    aws: AwsSettings = field(default_factory=AwsSettings)
    data: DataSettings = field(default_factory=DataSettings)
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    tuning: TuningSettings = field(default_factory=TuningSettings)
    local: LocalSettings = field(default_factory=LocalSettings)
    serve: ServeSettings = field(default_factory=ServeSettings)
    deploy: DeploySettings = field(default_factory=DeploySettings)
    evaluate: EvaluateSettings = field(default_factory=EvaluateSettings)
    source_file: str = ""  # the settings file that was read, "" if none
    # "section.key" -> where its value came from ("file:PATH", "env:NAME", "command line");
    # keys not listed are defaults. Read by `dogbreed config`.
    origins: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def backend(self) -> str:
        return self.project.backend

    def with_overrides(self, overrides: dict[str, Any], origin: str = "command line") -> Settings:
        """A validated copy with "section.key" -> value applied (None values are ignored: flag
        not given). Choices and cross-field rules are checked again, as on load."""
        new = dataclasses.replace(self, origins=dict(self.origins))
        for name in _section_names():
            setattr(new, name, copy.deepcopy(getattr(self, name)))
        for dotted, value in overrides.items():
            if value is None:
                continue
            section, _, key = dotted.partition(".")
            _set_value(new, section, key, value, origin=origin)
        validate(new)
        return new

    def as_dict(self) -> dict[str, Any]:
        """The settings as plain data (without `origins`, which only `dogbreed config` shows)."""
        out = dataclasses.asdict(self)
        out.pop("origins")
        return out

    def resolve(self, path: str) -> Path:
        """A settings path made absolute against the settings file's folder (or cwd)."""
        p = Path(path).expanduser()
        if p.is_absolute():
            return p
        base = Path(self.source_file).parent if self.source_file else Path.cwd()
        return base / p


def _section_names() -> list[str]:
    """The [section] fields of Settings (each a dataclass of settings)."""
    return [
        f.name for f in dataclasses.fields(Settings) if f.name not in ("source_file", "origins")
    ]


def section_fields() -> list[tuple[str, dataclasses.Field]]:
    """Every setting as (section, field), in declaration order: for docs and `dogbreed config`."""
    hints = typing.get_type_hints(Settings)
    return [(name, f) for name in _section_names() for f in dataclasses.fields(hints[name])]


def choices(typ: Any) -> tuple[Any, ...] | None:
    """The allowed values of a Literal[...] field type, else None."""
    return typing.get_args(typ) if typing.get_origin(typ) is Literal else None


def _coerce(value: Any, typ: Any, where: str) -> Any:
    """Convert a TOML or environment value to the field's declared type (a Literal: one of its
    values, so every choice setting is checked wherever it is set, new ones included)."""
    allowed = choices(typ)
    if allowed is not None:
        if value not in allowed:
            raise DogbreedError(
                f"setting {where} must be one of {', '.join(map(str, allowed))}, not {value!r}",
                exit_code=2,
            )
        return value
    origin = typing.get_origin(typ) or typ
    try:
        if origin is bool:
            return _as_bool(value)
        if origin in (int, float, str):
            if origin is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            if origin in (int, float) and isinstance(value, bool):  # TOML `port = true`
                raise ValueError(value)
            return origin(value)
        if origin in (dict, list):
            if isinstance(value, str):
                value = tomllib.loads(f"v = {value}")["v"]
            if not isinstance(value, origin):
                raise ValueError(value)
            return value
    except (TypeError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise DogbreedError(f"setting {where}: cannot read {value!r} as {origin.__name__}") from exc
    return value


def _as_bool(value: Any) -> bool:
    """A TOML bool, or an environment string such as "true"/"0"/"off"."""
    if not isinstance(value, str):
        return bool(value)
    low = value.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(value)


def _set_value(settings: Settings, section: str, key: str, value: Any, origin: str) -> None:
    if section not in _section_names():
        raise DogbreedError(f"{origin}: unknown settings section [{section}]", exit_code=2)
    obj = getattr(settings, section)
    hints = typing.get_type_hints(type(obj))
    if key not in hints:
        known = ", ".join(sorted(hints))
        raise DogbreedError(
            f"{origin}: unknown setting {section}.{key} (known: {known})", exit_code=2
        )
    where = f"{section}.{key}"
    try:
        setattr(obj, key, _coerce(value, hints[key], where))
    except DogbreedError as exc:
        raise DogbreedError(f"{origin}: {exc.message}", exit_code=2, hint=exc.hint) from exc
    settings.origins[where] = origin


def find_settings_file(start: Path | None = None) -> Path | None:
    """$DOGBREED_CONFIG, else dogbreed.toml in the current folder or its parents."""
    env = os.environ.get("DOGBREED_CONFIG")
    if env:
        path = Path(env)
        if not path.is_file():
            raise DogbreedError(f"DOGBREED_CONFIG names {env}, which is not a file", exit_code=2)
        return path
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / SETTINGS_FILE
        if candidate.is_file():
            return candidate
    return None


def load_settings(
    path: Path | str | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Defaults, then the settings file, then DOGBREED_* variables; validated."""
    environ = os.environ if environ is None else environ
    settings = Settings()
    file = Path(path) if path else find_settings_file()
    if file is not None:
        if not file.is_file():
            raise DogbreedError(f"settings file {file} not found", exit_code=2)
        try:
            data = tomllib.loads(file.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise DogbreedError(f"{file}: invalid TOML: {exc}", exit_code=2) from exc
        except UnicodeDecodeError as exc:
            raise DogbreedError(f"{file}: not UTF-8 text", exit_code=2) from exc
        for section, values in data.items():
            if not isinstance(values, dict):
                raise DogbreedError(f"{file}: '{section}' must be a [section]", exit_code=2)
            for key, value in values.items():
                _set_value(settings, section, key, value, origin=f"file:{file}")
        settings.source_file = str(file.resolve())
    for name, value in sorted(environ.items()):
        if name == "DOGBREED_BACKEND":
            _set_value(settings, "project", "backend", value, origin=f"env:{name}")
        elif name.startswith("DOGBREED_") and "__" in name:
            section, _, key = name[len("DOGBREED_") :].lower().partition("__")
            _set_value(settings, section, key, value, origin=f"env:{name}")
    validate(settings)
    return settings


# Allowed ranges of the servers' slow-client limits (ops/endpoint/slow_clients.py).
SERVE_LIMITS = {"request_deadline_s": (1.0, 600.0), "max_connections_per_client": (1, 256)}


def validate(settings: Settings) -> None:
    """Every choice (Literal) field, every range (ops/settings_bounds.py), then the
    hyperparameters; raises DogbreedError naming the offending setting and what it allows."""
    for section in _section_names():
        obj = getattr(settings, section)
        for key, typ in typing.get_type_hints(type(obj)).items():
            allowed, value = choices(typ), getattr(obj, key)
            if allowed is not None and value not in allowed:
                raise DogbreedError(
                    f"{section}.{key} must be one of {', '.join(map(str, allowed))}, not {value!r}",
                    exit_code=2,
                )
    check_bounds((s, getattr(settings, s)) for s in _section_names() if s != "hyperparameters")
    for key in ARCHIVE_CAPS:
        section, _, name = key.partition(".")
        if getattr(getattr(settings, section), name) < 1:
            raise DogbreedError(f"{key} must be at least 1", exit_code=2)
    check_hyperparameters(settings.hyperparameters)
    for key, (low, high) in SERVE_LIMITS.items():  # the slow-client limits (issue 23)
        value = getattr(settings.serve, key)
        if not low <= value <= high:  # NaN fails too
            raise DogbreedError(
                f"serve.{key} must be between {low:g} and {high:g}, not {value!r}", exit_code=2
            )


def image_size(settings: Settings) -> int:
    """The square input size from hyperparameters.image_shape ("3,H,W")."""
    return int(settings.hyperparameters.image_shape.split(",")[-1])
