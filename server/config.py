"""Settings read once from the environment (see README, "Settings")."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("LANGSO_VAR", ROOT / "var"))


def _secret_key(var_dir: Path) -> str:
    """Use SECRET_KEY, else a key generated once into var/ so restarts keep sessions valid."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str
    base_url: str
    host: str = "127.0.0.1"
    port: int = 8000
    https_only: bool = False
    vapid_private_key: str = ""
    vapid_public_key: str = ""
    vapid_subject: str = ""
    # Proxies whose X-Forwarded-For is believed ("127.0.0.1", "10.0.0.5,10.0.0.6"); none by
    # default, so the sign-in throttle counts the address that really connected.
    forwarded_allow_ips: str = ""
    # More push-service hosts to accept beside the browsers' own ("push.example.org").
    push_hosts: tuple[str, ...] = ()
    # The most PostgreSQL connections one process opens (DB_POOL_MAX); see db.POOL_MAX.
    db_pool_max: int = 40
    var_dir: Path = field(default=VAR_DIR)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        var_dir = Path(str(overrides.pop("var_dir", VAR_DIR)))
        host = os.environ.get("HOST", "127.0.0.1")
        port = int(os.environ.get("PORT", "8000"))
        values: dict[str, object] = {
            "database_url": os.environ.get("DATABASE_URL")
            or f"sqlite:///{var_dir / 'langso.sqlite3'}",
            "secret_key": overrides.pop("secret_key", None) or _secret_key(var_dir),
            "base_url": os.environ.get("BASE_URL", f"http://{host}:{port}").rstrip("/"),
            "host": host,
            "port": port,
            "https_only": os.environ.get("HTTPS_ONLY", "").lower() in {"1", "true", "yes"},
            "vapid_private_key": os.environ.get("VAPID_PRIVATE_KEY", ""),
            "vapid_public_key": os.environ.get("VAPID_PUBLIC_KEY", ""),
            "vapid_subject": os.environ.get("VAPID_SUBJECT", ""),
            "forwarded_allow_ips": os.environ.get("FORWARDED_ALLOW_IPS", "").strip(),
            "push_hosts": tuple(
                h.strip().lower() for h in os.environ.get("PUSH_HOSTS", "").split(",") if h.strip()
            ),
            "db_pool_max": int(os.environ.get("DB_POOL_MAX", "40")),
            "var_dir": var_dir,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
