#!/usr/bin/env bash
# The README's curl walkthrough as a script. Start the gateway with the
# shipped stonegate.toml first (`npm start` in the repository root), then:
#
#   bash examples/curl-walkthrough.sh
#
# STONEGATE_URL points it at another gateway (default http://127.0.0.1:3393).
# It touches only the three shipped backends: demo, filesystem (./examples)
# and memory (a file in data_dir). Running it twice is harmless.
set -euo pipefail

BASE=${STONEGATE_URL:-http://127.0.0.1:3393}

step() {
  printf '\n== %s\n' "$*"
}

get() {
  printf "\$ curl '%s%s'\n" "$BASE" "$1"
  curl -sS --fail-with-body "$BASE$1"
  printf '\n'
}

call() {
  printf "\$ curl -X POST %s/call -H 'Content-Type: application/json' -d '%s'\n" "$BASE" "$1"
  curl -sS --fail-with-body -X POST "$BASE/call" -H 'Content-Type: application/json' -d "$1"
  printf '\n'
}

if ! curl -sS -o /dev/null "$BASE/health" 2>/dev/null; then
  echo "No gateway answers at $BASE. Start one with 'npm start' in the repository root, or set STONEGATE_URL." >&2
  exit 1
fi

step "Gateway health: status, version, uptime and how many backends serve"
get /health

step "The whole catalog: every tool of every backend"
get /tools

step "The tools of one backend (demo)"
get /tools/demo

step "Ranked search over the catalog for 'read file'"
get '/discover?query=read%20file'

step "The input schema of demo's echo tool"
get /schema/demo/echo

step "Every backend with its state, circuit, pool and call counts"
get /server/list

step "Call demo/echo"
call '{"server": "demo", "tool": "echo", "arguments": {"text": "hello through stonegate"}}'

step "Call filesystem/read_text_file (relative paths resolve against the allowed folder, ./examples)"
call '{"server": "filesystem", "tool": "read_text_file", "arguments": {"path": "hello.txt"}}'

step "Call memory/create_entities (the graph is stored in data_dir/memory.jsonl)"
call '{"server": "memory", "tool": "create_entities", "arguments": {"entities": [{"name": "stonegate", "entityType": "project", "observations": ["routes MCP tool calls"]}]}}'

step "Call memory/read_graph"
call '{"server": "memory", "tool": "read_graph", "arguments": {}}'

step "An error on purpose: an unknown tool answers 404 with {error, code}"
printf "\$ curl -X POST %s/call -H 'Content-Type: application/json' -d '%s'\n" "$BASE" '{"server": "demo", "tool": "nope", "arguments": {}}'
curl -sS -w '\nHTTP %{http_code}\n' -X POST "$BASE/call" -H 'Content-Type: application/json' \
  -d '{"server": "demo", "tool": "nope", "arguments": {}}'

printf '\nDone.\n'
