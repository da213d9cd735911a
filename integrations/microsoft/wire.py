"""Microsoft Graph JSON as lean pydantic models, parsed straight from response bytes.

msgraph-sdk's own models cost about 6 ms per message to deserialize; pydantic-core parses the same JSON
in microseconds. Only the properties the tools use are declared; anything else is ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import Base64Bytes, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class GraphModel(BaseModel):
    """Base: camelCase JSON names, unknown properties ignored, immutable."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


T = TypeVar("T", bound=GraphModel)


class Page(GraphModel, Generic[T]):
    """One page of a Graph collection."""

    value: list[T] = Field(default_factory=list)
    next_link: str | None = Field(default=None, alias="@odata.nextLink")


class EmailAddress(GraphModel):
    name: str | None = None
    address: str | None = None


class Recipient(GraphModel):
    email_address: EmailAddress | None = None


class ItemBody(GraphModel):
    content_type: str = "text"
    content: str = ""


class Message(GraphModel):
    id: str
    subject: str | None = None
    from_: Recipient | None = Field(default=None, alias="from")
    received_date_time: datetime | None = None
    has_attachments: bool | None = None
    is_read: bool | None = None
    is_draft: bool | None = None
    parent_folder_id: str | None = None
    web_link: str | None = None
    body: ItemBody | None = None
    to_recipients: list[Recipient] = Field(default_factory=list)
    cc_recipients: list[Recipient] = Field(default_factory=list)


class Attachment(GraphModel):
    odata_type: str | None = Field(default=None, alias="@odata.type")
    id: str
    name: str | None = None
    content_type: str | None = None
    size: int | None = None
    content_bytes: Base64Bytes | None = None


class ItemReference(GraphModel):
    drive_id: str | None = None
    id: str | None = None
    path: str | None = None


class FileFacet(GraphModel):
    mime_type: str | None = None


class DriveItem(GraphModel):
    id: str
    name: str | None = None
    size: int | None = None
    web_url: str | None = None
    folder: dict[str, Any] | None = None
    file: FileFacet | None = None
    root: dict[str, Any] | None = None
    parent_reference: ItemReference | None = None


class Drive(GraphModel):
    id: str


class SharingLink(GraphModel):
    type: str | None = None
    scope: str | None = None
    web_url: str


class Permission(GraphModel):
    id: str
    link: SharingLink


class UploadSession(GraphModel):
    upload_url: str | None = None
    next_expected_ranges: list[str] = Field(default_factory=list)
