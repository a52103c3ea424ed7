"""Load ODCS v3 YAML contracts into small typed objects: the catalogue (all contracts, from the compiled cache) and
one contract by key. The contract object and its parsing live in cityshare.contracts.document; its names are
re-exported here, where the rest of the platform imports them.
"""

from __future__ import annotations

import re

from cityshare.contracts.compiled import catalogue
from cityshare.contracts.document import (
    Contract,
    ContractError,
    Property,
    contract_from_raw,
    contract_paths,
    declared_max_length,
    expand,
    load_contract,
    parse_raw,
    server_override_env,
)
from cityshare.settings import Settings, get_settings

__all__ = ["Contract", "ContractError", "Property", "contract_from_raw", "contract_paths", "declared_max_length",
           "expand", "get_contract", "load_contract", "load_contracts", "parse_raw", "server_override_env"]


def load_contracts(settings: Settings | None = None, kind: str | None = None) -> list[Contract]:
    """All contracts (optionally only ``source`` or ``shared``), sorted by key; the first file that does not
    parse raises its ContractError. Read from the compiled catalogue (cityshare.contracts.compiled): only
    files changed since it was written are parsed."""
    compiled = catalogue(settings)
    if error := compiled.first_error():
        raise error
    return [c for c in compiled.contracts if kind is None or c.kind == kind]


def get_contract(key: str, settings: Settings | None = None) -> Contract:
    """The contract for ``<department>/<dataset>``; unknown keys name the known ones."""
    settings = settings or get_settings()
    path = settings.contracts_dir / f"{key}.odcs.yaml"
    if not re.fullmatch(r"[\w-]+/[\w-]+", key) or not path.exists():  # no path traversal out of contracts/
        known = ", ".join(c.key for c in load_contracts(settings))
        raise ContractError(key, "dataset", f"no such contract; known: {known}")
    return load_contract(path)
