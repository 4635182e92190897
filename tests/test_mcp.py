"""`--mcp`: Gradio's MCP server offers every endpoint as a tool an agent can choose and call.

The tools are read the way an MCP client reads them: the server's tool schema (`/gradio_api/mcp/schema`,
what Hugging Face's MCP client asks a Space for) and a session of the `mcp` package's own client over
streamable HTTP, which lists the tools and calls one.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from appserver import environment, running_demo

pytest.importorskip("mcp")


@pytest.fixture(scope="module")
def served():
    with running_demo(mcp=True) as (demo, url):
        yield demo, url


def named_endpoints(url: str) -> set[str]:
    info = httpx.get(f"{url}gradio_api/info", timeout=120).json()
    return {name.lstrip("/") for name in info["named_endpoints"]}


def test_every_method_is_a_tool_named_as_its_endpoint_and_described(served):
    demo, url = served
    tools = {tool["name"]: tool for tool in httpx.get(f"{url}gradio_api/mcp/schema", timeout=120).json()}
    assert set(tools) == named_endpoints(url)  # every endpoint, by its API name (not a wrapper's name)
    from app.tabs import TABS

    for module in TABS:  # every method's main run is there
        tab = module.TAB
        assert any(t.startswith(f"{tab.key}_") for t in tools), f"no MCP tool for the {tab.title} tab"
    for name, tool in tools.items():
        if name in ("model_status", "pick_model"):
            continue
        description = tool["description"]
        # the handler's own sentence, not the list of its settings
        assert len(description) > 40, (name, description)
        for param, schema in tool["inputSchema"].get("properties", {}).items():
            assert schema.get("description"), f"{name}: parameter {param} is not described"
    search = tools["clip4clip_search"]
    assert "best match the query" in search["description"]
    assert {"query", "k", "similarity", "model"} <= set(search["inputSchema"]["properties"])
    replay = tools["zeroshot_replay"]
    assert "replay a run record" in replay["description"] and "record" in replay["inputSchema"]["properties"]


def test_an_mcp_client_lists_the_tools_and_calls_one(served):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    demo, url = served
    model = demo.clip_lab.default_choice

    async def session():
        async with streamable_http_client(f"{url}gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as client:
                await client.initialize()
                listed = {tool.name for tool in (await client.list_tools()).tools}
                refused = await client.call_tool(  # a bad argument: the tool says what is wrong, the server serves on
                    "clip4clip_search", {"query": "a red video", "k": 2, "similarity": "median", "model": model})
                called = await client.call_tool(
                    "clip4clip_search", {"query": "a red video", "k": 2, "similarity": "meanP", "model": model})
                # a re-score works on a result a browser session kept; an MCP call has none, and is told so
                unkept = await client.call_tool("groupvit_relabel", {"threshold": 0.9, "top_k": 1})
                return listed, refused, called, unkept

    listed, refused, called, unkept = asyncio.run(asyncio.wait_for(session(), 600))
    said = " ".join(getattr(part, "text", "") for part in unkept.content)
    assert unkept.isError and "first" in said, said
    message = " ".join(getattr(part, "text", "") for part in refused.content)
    assert refused.isError and "median" in message and "meanP" in message, message
    assert "clip4clip_search" in listed and "zeroshot_classify" in listed
    assert not called.isError, called.content
    text = " ".join(getattr(part, "text", "") for part in called.content)
    # the ranking came back, the k = 2 asked for (random weights: any two videos of the index), with its strip
    assert "#1 " in text and "#2 " in text and "#3 " not in text and "The text tower embeds the query" in text


def test_the_flag_and_its_environment_variable():
    import app as entry_package

    entry = entry_package.entry_module()
    assert entry.parse_args(["--mcp"]).mcp and not entry.parse_args([]).mcp
    with environment({"CLIP_LAB_MCP": "1"}):
        assert entry.parse_args([]).mcp
