"""What every command receives (AppContext) and the decorator that passes it (pass_app).

Area command modules import this, never ops.cli, so the click group can import them without a loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from ops.settings import Settings, load_settings


@dataclass
class AppContext:
    """The settings file and global overrides, loaded lazily."""

    config: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config).with_overrides(self.overrides)
        return self._settings

    def override(self, **dotted: Any) -> Settings:
        """Apply command flags ("section.key" written as section__key) on top of the settings."""
        self._settings = self.settings.with_overrides(
            {k.replace("__", "."): v for k, v in dotted.items()}
        )
        return self._settings


pass_app = click.make_pass_decorator(AppContext)
