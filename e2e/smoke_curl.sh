#!/usr/bin/env bash
# Smoke test of the JSON API with curl: two adds of test-1 land in one cart behind one cookie.
# Usage: e2e/smoke_curl.sh BASE_URL   (e.g. http://127.0.0.1:8000)
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 BASE_URL" >&2
  exit 2
fi
base_url="${1%/}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
jar="$work/cookies.txt"
body="$work/body.json"

fail() {
  echo "smoke_curl: FAIL: $*" >&2
  exit 1
}

# call METHOD PATH [JSON]: prints the HTTP status; the body goes to $body; cookies read from and kept in $jar.
call() {
  local method="$1" path="$2"
  local args=(--silent --show-error --max-time 10 --output "$body" --write-out '%{http_code}'
    --cookie "$jar" --cookie-jar "$jar" --request "$method")
  if [ $# -ge 3 ]; then
    args+=(--header 'Content-Type: application/json' --data "$3")
  fi
  curl "${args[@]}" "$base_url$path" || fail "$method $path: curl could not reach $base_url"
}

touch "$jar"
for attempt in 1 2; do
  status="$(call POST /api/cart '{"productId":"TEST-1","qty":1}')"
  [ "$status" = "201" ] || fail "POST /api/cart (add #$attempt) answered $status: $(cat "$body")"
done

status="$(call GET /api/cart)"
[ "$status" = "200" ] || fail "GET /api/cart answered $status: $(cat "$body")"

python3 - "$body" "$jar" <<'PY' || exit 1
import json
import sys

body_path, jar_path = sys.argv[1], sys.argv[2]


def fail(message: str) -> None:
    print(f"smoke_curl: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


try:
    with open(body_path) as file:
        cart = json.load(file)
except ValueError as error:
    fail(f"GET /api/cart did not answer JSON: {error}")
lines = [item for item in cart.get("items", []) if item.get("productId") == "test-1"]
if len(lines) != 1:
    fail(f"expected one test-1 line in the cart, got {len(lines)}: {json.dumps(cart)}")
if lines[0].get("qty") != 2:
    fail(f"expected qty 2 for test-1 after two adds, got {lines[0].get('qty')}: {json.dumps(cart)}")

# Netscape cookie-jar format: tab-separated, name in field 6; HttpOnly cookies are prefixed "#HttpOnly_".
cookies = []
with open(jar_path) as file:
    for raw in file:
        line = raw.rstrip("\n")
        if line.startswith("#HttpOnly_"):
            http_only, line = True, line[len("#HttpOnly_") :]
        elif not line.strip() or line.startswith("#"):
            continue
        else:
            http_only = False
        fields = line.split("\t")
        if len(fields) != 7:
            fail(f"unreadable cookie-jar line: {raw!r}")
        cookies.append((fields[5], http_only))
names = [name for name, _ in cookies]
if names != ["session"]:
    fail(f"expected exactly one cookie named session, the jar holds {names}")
if not cookies[0][1]:
    fail("the session cookie is not HttpOnly")
print("smoke_curl: OK: two adds gave test-1 qty 2 in one cart, with one HttpOnly cookie named session")
PY
