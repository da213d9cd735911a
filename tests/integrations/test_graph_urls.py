"""The fast URL expansion (transport.fix_url, with `uritemplate`) writes exactly the URL msgraph-sdk's own
expansion (std-uritemplate) writes, for the kinds of requests our tools build."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Callable

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.request_information import RequestInformation
from msgraph.generated.drives.item.items.item.children.children_request_builder import ChildrenRequestBuilder
from msgraph.generated.users.item.messages.item.attachments.attachments_request_builder import AttachmentsRequestBuilder
from msgraph.generated.users.item.messages.messages_request_builder import MessagesRequestBuilder

from integrations.microsoft.client import make_graph_client
from integrations.microsoft.transport import fix_url

BASE = "http://127.0.0.1:5999/v1.0"
LONG_ID = "AAMkAGI2TG93AAA-_=+/" * 8 + "é ü%"
graph = make_graph_client(BASE, "token")


def _messages(**query) -> RequestInformation:
    parameters = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(**query)
    return graph.me.messages.to_get_request_information(RequestConfiguration(query_parameters=parameters))


REQUESTS: dict[str, Callable[[], RequestInformation]] = {
    "attachment by long id": lambda: graph.me.messages.by_message_id(LONG_ID).attachments.by_attachment_id(LONG_ID[::-1]).to_get_request_information(),
    "listing with select, order, top, filter": lambda: _messages(
        select=["id", "subject", "receivedDateTime"], orderby=["receivedDateTime desc"], top=25,
        filter=f"receivedDateTime ge {datetime(2026, 11, 1, tzinfo=timezone.utc).isoformat()} and hasAttachments eq true",
    ),
    "zero, booleans and free text": lambda: _messages(top=0, skip=0, count=True, search='"invoice Q3" from:a@b.com'),
    "attachments with select": lambda: graph.me.messages.by_message_id(LONG_ID).attachments.to_get_request_information(
        RequestConfiguration(query_parameters=AttachmentsRequestBuilder.AttachmentsRequestBuilderGetQueryParameters(select=["id", "name", "size"]))
    ),
    "drive children by path-like id": lambda: graph.drives.by_drive_id("b!x y").items.by_drive_item_id("root:/Clients/Ünïcode & Co:").children.to_get_request_information(
        RequestConfiguration(query_parameters=ChildrenRequestBuilder.ChildrenRequestBuilderGetQueryParameters(top=200, expand=["thumbnails"]))
    ),
    "next link (raw url)": lambda: graph.me.messages.with_url(f"{BASE}/me/messages?$skip=25&$top=25").to_get_request_information(),
}


@pytest.mark.parametrize("build", REQUESTS.values(), ids=REQUESTS.keys())
def test_fast_expansion_writes_the_sdks_url(build: Callable[[], RequestInformation]) -> None:
    sdk = build()
    sdk.path_parameters = {**sdk.path_parameters, "baseurl": BASE}
    sent_by_sdk = sdk.url.replace("/users/me-token-to-replace", "/me", 1)  # the SDK's UrlReplaceHandler rule
    ours = build()
    assert fix_url(graph, ours) == sent_by_sdk
    assert ours.url == sent_by_sdk


def test_naive_datetimes_are_sent_as_utc_like_the_sdk() -> None:
    naive = datetime(2026, 11, 21, 9, 30)
    with_tz = datetime(2026, 11, 21, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    for value in (naive, with_tz):
        sdk, ours = RequestInformation(url_template="{+baseurl}/x{?since}"), RequestInformation(url_template="{+baseurl}/x{?since}")
        for request in (sdk, ours):
            request.query_parameters["since"] = value
        sdk.path_parameters["baseurl"] = BASE
        assert fix_url(graph, ours) == sdk.url


def test_expanding_leaves_the_builders_parameters_alone() -> None:
    builder = graph.me.messages.by_message_id(LONG_ID)
    fix_url(graph, builder.to_get_request_information())
    assert builder.path_parameters["message%2Did"] == LONG_ID
