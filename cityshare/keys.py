"""Secrets (密钥) fail closed: the city-held token key and the departments' API tokens.

Nothing secret has a default in the code. The token key comes from ``CITYSHARE_TOKEN_KEY`` or the
owner-only key file ``cityshare keys init`` writes (read by cityshare.settings); a missing key or one
that ever shipped as a default stops ``serve``, ``build``, ``ingest`` and the DAG tasks with a message
saying how to make one. Only the demo (``cityshare demo`` marks its data dir) lets the simulated
departments' APIs make up their own random tokens, kept in the data dir for the pipeline to read.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from pathlib import Path

from cityshare.errors import CityShareError
from cityshare.settings import TOKEN_KEY_FILE, Settings

TOKEN_KEY_ENV = "CITYSHARE_TOKEN_KEY"
# Values that were once a default or are documented placeholders: anyone with the code knows them.
KNOWN_DEFAULTS = frozenset({"cityshare-demo-key-change-me", "change-me", "changeme", "test-token-key", "bench-key",
                            "secret", "demo", "sim-scjgj-token", "sim-jtj-token"})
DEMO_MARKER = "DEMO"
GENERATE = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


class MissingSecret(CityShareError):
    """A required secret is missing or is a publicly known value."""


def keys_dir(settings: Settings) -> Path:
    return settings.data_dir / TOKEN_KEY_FILE.parent


def owner_only_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable by the owner only (0700)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def write_secret(path: Path, value: str) -> Path:
    """Write a secret file created 0600 (never briefly world-readable)."""
    owner_only_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    path.chmod(0o600)
    return path


def _created_once(path: Path, prefix: str = "") -> str:
    """A random secret kept in ``path``; several processes may get here first, one value wins (link once)."""
    if not path.exists():
        tmp = write_secret(path.with_name(f".{path.name}.{os.getpid()}"), prefix + secrets.token_urlsafe(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text(encoding="utf-8").strip()


def audit_key(settings: Settings) -> bytes:
    """The audit chain's HMAC key: its own random key (0600, made on first use), so rotating the token
    key never breaks the verification of past audit records."""
    return _created_once(keys_dir(settings) / "audit_chain.key").encode()


def is_default(key: str) -> bool:
    return key.strip().lower() in KNOWN_DEFAULTS or key.strip().lower().startswith("change-me")


def require_token_key(settings: Settings) -> str:
    """The token key, or MissingSecret naming the variable and how to generate one."""
    key = settings.token_key
    if key and not is_default(key):
        return key
    problem = "is not set" if not key else "is a publicly known default value"
    raise MissingSecret(
        f"{TOKEN_KEY_ENV} {problem}: it keys the pseudonymous tokens (假名化令牌) and API token hashes. "
        f"Run `cityshare keys init` (writes {settings.data_dir / TOKEN_KEY_FILE}, mode 0600) or set "
        f"{TOKEN_KEY_ENV}=$({GENERATE}). Keep it secret; changing it means re-tokenizing (docs/security.md).")


def init_token_key(settings: Settings, force: bool = False) -> Path:
    """Write a new random key file; refuses to replace one unless ``force`` (a new key re-tokenizes)."""
    path = settings.data_dir / TOKEN_KEY_FILE
    if path.exists() and not force:
        raise CityShareError(f"{path} already exists; a new key changes every token (docs/security.md: "
                             "rotation) — pass --force to replace it")
    return write_secret(path, secrets.token_urlsafe(32))


def mark_demo(settings: Settings) -> Settings:
    """Mark the data dir as a demo install: it gets its own random key and simulator tokens.

    Returns ``settings`` holding the key: on a fresh data dir they were read before the key file existed.
    """
    path = settings.data_dir / TOKEN_KEY_FILE
    if not path.exists() and not os.environ.get(TOKEN_KEY_ENV):
        init_token_key(settings)
    write_secret(keys_dir(settings) / DEMO_MARKER, "the simulated departments' API tokens live here")
    if settings.token_key or not path.exists():
        return settings
    return dataclasses.replace(settings, token_key=path.read_text(encoding="utf-8").strip())


def is_demo(settings: Settings) -> bool:
    return (keys_dir(settings) / DEMO_MARKER).exists()


def source_token(settings: Settings, env: str) -> str:
    """A department API's bearer token from the variable its contract names — never another token.

    In a demo data dir the simulator's own random token (created on first use) stands in.
    """
    token = os.environ.get(env, "")
    if token:
        if is_default(token):
            raise MissingSecret(f"${env} is a publicly known default value; set the department's real token")
        return token
    if is_demo(settings):
        return _created_once(keys_dir(settings) / f"{env.lower()}.token", "sim_")
    raise MissingSecret(f"set the bearer token in ${env} (the one the department issued for its API)")
