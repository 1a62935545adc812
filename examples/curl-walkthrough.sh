#!/usr/bin/env bash
# Every REST route of the gateway, in order, with curl. Start the gateway
# with the shipped stonegate.toml first (`npm start` in the repository
# root), then, from the repository root:
#
#   bash examples/curl-walkthrough.sh
#
# STONEGATE_URL points it at another gateway (default http://127.0.0.1:3393).
# With [auth], STONEGATE_TOKEN must be an admin token (it is sent on every
# request). It uses the three shipped backends — demo, filesystem
# (./examples) and memory (a file in data_dir) — and the built-in coord;
# it adds a backend `walkthrough` and removes it again. Running it twice is
# harmless. Every request must succeed (except the error shown on purpose).
set -euo pipefail

BASE=${STONEGATE_URL:-http://127.0.0.1:3393}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AUTH=()
if [ -n "${STONEGATE_TOKEN:-}" ]; then AUTH=(-H "Authorization: Bearer $STONEGATE_TOKEN"); fi

step() {
  printf '\n== %s\n' "$*"
}

# get PATH: a GET that must answer 2xx.
get() {
  printf "\$ curl '%s%s'\n" "$BASE" "$1"
  curl -sS --fail-with-body "${AUTH[@]}" "$BASE$1"
  printf '\n'
}

# post PATH JSON: a POST that must answer 2xx; the answer is also kept in $ANSWER.
post() {
  printf "\$ curl -X POST %s%s -H 'Content-Type: application/json' -d '%s'\n" "$BASE" "$1" "$2"
  ANSWER=$(curl -sS --fail-with-body "${AUTH[@]}" -X POST "$BASE$1" -H 'Content-Type: application/json' -d "$2")
  printf '%s\n' "$ANSWER"
}

# field NAME: a string field of the last answer (enough JSON parsing for this script).
field() {
  printf '%s' "$ANSWER" | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"
}

if ! curl -sS -o /dev/null "$BASE/health" 2>/dev/null; then
  echo "No gateway answers at $BASE. Start one with 'npm start' in the repository root, or set STONEGATE_URL." >&2
  exit 1
fi

step "GET /health — status, version, uptime and how many backends serve (never needs a token)"
get /health

step "GET /tools — the whole catalog: every tool of every backend"
get /tools

step "GET /tools/{server} — the tools of one backend"
get /tools/demo

step "GET /discover — ranked search over the catalog"
get '/discover?query=read%20file&limit=3'

step "GET /schema/{server}/{tool} — one tool's input schema"
get /schema/demo/echo

step "GET /server/list — every backend with its state, circuit, pool and call counts"
get /server/list

step "POST /call — call a tool; the answer is the tool's result"
post /call '{"server": "demo", "tool": "echo", "arguments": {"text": "hello through stonegate"}}'
post /call '{"server": "filesystem", "tool": "read_text_file", "arguments": {"path": "hello.txt"}}'
post /call '{"server": "memory", "tool": "create_entities", "arguments": {"entities": [{"name": "stonegate", "entityType": "project", "observations": ["routes MCP tool calls"]}]}}'

step "An error on purpose: an unknown tool answers 404 with {error, code}"
printf "\$ curl -X POST %s/call -H 'Content-Type: application/json' -d '%s'\n" "$BASE" '{"server": "demo", "tool": "nope", "arguments": {}}'
curl -sS "${AUTH[@]}" -w '\nHTTP %{http_code}\n' -X POST "$BASE/call" -H 'Content-Type: application/json' -d '{"server": "demo", "tool": "nope", "arguments": {}}'

step "POST /call/async — dispatch a long call; the answer comes at once with a call_id"
post /call/async '{"server": "demo", "tool": "sleep", "arguments": {"ms": 1500}}'
CALL=$(field call_id)

step "GET /call — async calls in flight (state=active) and recent"
get '/call?state=active'

step "GET /call/{id} — its state; wait_ms blocks until it finishes (or the wait ends)"
get "/call/$CALL?wait_ms=5000"

step "DELETE /call/{id} — cancel a pending or running call"
post /call/async '{"server": "demo", "tool": "sleep", "arguments": {"ms": 60000}}'
CALL=$(field call_id)
printf "\$ curl -X DELETE '%s/call/%s'\n" "$BASE" "$CALL"
curl -sS --fail-with-body "${AUTH[@]}" -X DELETE "$BASE/call/$CALL"
printf '\n'

step "POST /server/add — add a backend at runtime (stored in data_dir; it comes back after a restart)"
post /server/add "{\"name\": \"walkthrough\", \"command\": \"node\", \"args\": [\"$REPO/dist/backends/demo/server.js\"]}"

step "POST /server/stop, /server/start, /server/restart, /server/reset — its lifecycle (reset closes its circuit by hand)"
post /server/stop '{"name": "walkthrough"}'
post /server/start '{"name": "walkthrough"}'
post /server/restart '{"name": "walkthrough"}'
post /server/reset '{"name": "walkthrough"}'

step "POST /server/approve — accept its current tool definitions (matters with [gateway] pin_tools)"
post /server/approve '{"name": "walkthrough"}'

step "POST /server/remove — and it is gone"
post /server/remove '{"name": "walkthrough"}'

step "GET /config — the running config, secrets redacted"
get /config

step "POST /config/reload — read stonegate.toml again: changed backends restart, the others keep running (the gateway also reloads on a save and on SIGHUP)"
post /config/reload '{}'

step "GET /log — recent calls, newest first (filters: server, status, agent, since, limit)"
get '/log?limit=3'

step "GET /log/export — the audit log as JSON lines"
get '/log/export?limit=2'

step "GET /log/stream — the live call feed as Server-Sent Events (here: the last 2 calls, then 1 s of live)"
printf "\$ curl -N '%s/log/stream?backlog=2'\n" "$BASE"
curl -sS -N "${AUTH[@]}" --max-time 1 "$BASE/log/stream?backlog=2" 2>/dev/null || true
printf '\n'

step "GET /stats — totals, error rate, latency percentiles, per backend"
get /stats

step "GET /metrics — Prometheus text format (first lines)"
printf "\$ curl '%s/metrics'\n" "$BASE"
# Read whole first: grep -m stops reading early, and curl then fails writing (exit 23).
METRICS=$(curl -sS --fail-with-body "${AUTH[@]}" "$BASE/metrics")
grep -m 6 '^stonegate_' <<<"$METRICS"

step "GET /ui/ — the dashboard (open it in a browser; GET /ui redirects here, GET /ui/{file} serves its script and style)"
printf "\$ curl -I '%s/ui/'\n" "$BASE"
curl -sS -o /dev/null -w 'HTTP %{http_code} %{content_type}\n' "$BASE/ui/"

step "Coordination REST (/coord): two agents, a message, a task, shared state"
post /coord/agent/register '{"agent_id": "walk-a", "role": "writer", "capabilities": ["docs"]}'
post /coord/agent/register '{"agent_id": "walk-b", "role": "reviewer"}'
post /coord/agent/heartbeat '{"agent_id": "walk-a"}'
get '/coord/agent/discover?role=reviewer'
post /coord/msg/send '{"from": "walk-a", "to": "walk-b", "content": "draft is ready"}'
post /coord/msg/broadcast '{"from": "walk-b", "content": "reviewing now"}'
get '/coord/msg/poll?agent_id=walk-b&timeout=0'
get '/coord/msg/history?agent_id=walk-a&with_agent=walk-b&limit=5'
post /coord/task/post '{"description": "proofread the README", "posted_by": "walk-b", "required_capability": "docs"}'
post /coord/task/claim '{"agent_id": "walk-a"}'
TASK=$(field task_id)
post /coord/task/complete "{\"task_id\": \"$TASK\", \"agent_id\": \"walk-a\", \"result\": \"done\"}"
get '/coord/task/list?status=complete&limit=3'
post /coord/state/set '{"key": "walk/phase", "value": {"step": 2}, "updated_by": "walk-a"}'
get '/coord/state/get?key=walk/phase'
get '/coord/state/watch?key=walk/phase&after_version=0&timeout=0'
post /coord/channel/create '{"name": "walk-room", "created_by": "walk-a"}'
get /coord/channel/list
get /coord/stats
get /coord/health
printf "\$ curl -N '%s/coord/events?after=0'   (1 s of it)\n" "$BASE"
curl -sS -N "${AUTH[@]}" --max-time 1 "$BASE/coord/events?after=0" 2>/dev/null | tail -n 4 || true
printf '\n'
post /coord/agent/deregister '{"agent_id": "walk-a"}'
post /coord/agent/deregister '{"agent_id": "walk-b"}'

printf '\nDone: every route answered.\n'
