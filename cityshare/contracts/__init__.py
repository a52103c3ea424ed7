"""ODCS v3 data contracts: the single source of truth for DAGs, gates, dbt sources and the directory."""

from cityshare.contracts.model import Contract, ContractError, Property, load_contract, load_contracts

__all__ = ["Contract", "ContractError", "Property", "load_contract", "load_contracts"]
