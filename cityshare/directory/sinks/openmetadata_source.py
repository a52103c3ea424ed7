"""CityShare as an openmetadata-ingestion Source (自定义连接器 custom connector).

``metadata ingest -c workflow.yaml`` (or ``cityshare directory publish --openmetadata URL``) runs the
framework's ``MetadataWorkflow``; its YAML names this class in
``serviceConnection.config.sourcePythonClass``. The source yields the directory's ``CreateXRequest``
models (built by :func:`cityshare.directory.sinks.openmetadata.build_requests`) and the framework's
``metadata-rest`` sink sends them. Separate module because importing openmetadata-ingestion takes
5–10 s: only the workflow loads it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from metadata.generated.schema.entity.data.table import Table
from metadata.generated.schema.entity.services.ingestionPipelines.status import StackTraceError
from metadata.generated.schema.entity.teams.team import Team
from metadata.generated.schema.metadataIngestion.workflow import Source as WorkflowSource
from metadata.generated.schema.tests.basic import TestCaseResult
from metadata.generated.schema.type.entityReference import EntityReference
from metadata.ingestion.api.models import Either
from metadata.ingestion.api.steps import InvalidSourceException, Source
from metadata.ingestion.models.barrier import Barrier
from metadata.ingestion.models.custom_properties import CustomPropertyDataTypes, OMetaCustomProperties
from metadata.ingestion.models.ometa_classification import OMetaTagAndClassification
from metadata.ingestion.models.tests_data import OMetaTestCaseResultsSample
from metadata.ingestion.ometa.ometa_api import OpenMetadata

from cityshare.settings import Settings, get_settings


class CityShareSource(Source):
    """Yields the directory as OpenMetadata requests; references resolve against the server."""

    def __init__(self, config: WorkflowSource, metadata: OpenMetadata) -> None:
        super().__init__()
        self.config = config
        self.metadata = metadata
        assert config.serviceConnection is not None  # create() checked it
        self.service_connection = config.serviceConnection.root.config
        options = (self.service_connection.connectionOptions.root
                   if self.service_connection.connectionOptions else {})
        base = get_settings()
        self.settings: Settings = dataclasses.replace(
            base,
            project_root=Path(options.get("cityshareHome") or base.project_root),
            data_dir=Path(options.get("cityshareDataDir") or base.data_dir))

    @classmethod
    def create(cls, config_dict: dict, metadata: OpenMetadata, pipeline_name: str | None = None) -> CityShareSource:
        config = WorkflowSource.model_validate(config_dict)
        connection = config.serviceConnection.root.config if config.serviceConnection else None
        if connection is None or connection.type is None or connection.type.value != "CustomDatabase":
            raise InvalidSourceException(f"CityShareSource needs a CustomDatabase serviceConnection, got {config_dict}")
        return cls(config, metadata)

    def prepare(self) -> None:
        """Nothing to open: the directory and warehouse are read while iterating."""

    def test_connection(self) -> None:
        """The 'connection' is the local directory: it must have been built."""
        if not self.settings.directory_dir.exists():
            raise InvalidSourceException(f"{self.settings.directory_dir}: no directory; run `cityshare directory build`")

    def close(self) -> None:
        """No resources held."""

    def _ref(self, entity_type: str, fqn: str) -> Any:
        if entity_type == "type":  # a custom property's type, e.g. "string"
            return self.metadata.get_property_type_ref(CustomPropertyDataTypes(fqn)).root
        entity = {"table": Table, "team": Team}[entity_type]
        found = self.metadata.get_by_name(entity=entity, fqn=fqn)
        if found is None:
            raise LookupError(f"{entity_type} {fqn!r} is not in OpenMetadata")
        return EntityReference(id=found.id, type=entity_type, fullyQualifiedName=fqn)

    def _iter(self) -> Iterable[Either]:
        from cityshare.directory.sinks.openmetadata import build_requests

        classifications: dict[str, Any] = {}
        requests = build_requests(self.settings, ref=self._ref)
        while True:
            try:
                req = next(requests)
            except StopIteration:
                return
            except LookupError as exc:  # a reference the server does not know: the run fails, saying which
                yield Either(left=StackTraceError(name="CityShare reference", error=str(exc)), right=None)
                return
            if req.flush:  # the sink commits its bulk buffer before the next request is even built
                yield Either(left=None, right=Barrier(reason="cityshare: tables before lineage and test cases"))
            elif req.kind == "CreateClassificationRequest":  # sent with its tags (the sink's tag record)
                classifications[req.model.name.root] = req.model
            elif req.kind == "CreateTagRequest":
                yield Either(left=None, right=OMetaTagAndClassification(
                    classification_request=classifications[req.model.classification.root], tag_request=req.model))
            elif req.kind == "CreateCustomPropertyRequest":
                yield Either(left=None, right=OMetaCustomProperties(entity_type=Table, createCustomPropertyRequest=req.model))
            elif req.kind == "CreateTestCaseResult":
                yield Either(left=None, right=OMetaTestCaseResultsSample(
                    test_case_results=TestCaseResult.model_validate(req.model.model_dump(exclude_none=True)),
                    test_case_name=req.target))
            else:
                yield Either(left=None, right=req.model)
