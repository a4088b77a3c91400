#!/usr/bin/env bash
# A Unit21 imports client made of the documentation's own curl commands, speaking the
# conformance adapter protocol (see conformance/ADAPTERS.md): one JSON request per line on
# stdin, one JSON answer per line on stdout. Needs bash, curl and jq.
# U21_BASE_URL and U21_API_KEY say where and who; the key reaches curl on its standard input,
# never its command line. curl follows no redirect (no --location): a 3xx is reported.
#
# Retries are its own (curl's --retry cannot tell a create from a read): 429 and 503 after
# Retry-After, else X-RateLimit-Reset, else a short growing backoff; other 5xx and dropped
# connections only where repeating is safe (reads, and uploads, which S3 stores once per key).
# A create answered 500 or cut off mid-way is reported, not repeated: it may have made a file.
set -uo pipefail

BASE="${U21_BASE_URL%/}"
RETRIES=4
# Seconds a request may go without moving a byte before curl gives it up (then retried
# where safe): a stalled server cannot hang the client.
TIMEOUT=${U21_REQUEST_TIMEOUT_SECS:-60}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# How long to wait before retry number $1, given the refusal's headers in file $2.
pause_for() {
  local retry_after reset
  retry_after=$(tr -d '\r' <"$2" | awk -F': *' 'tolower($1) == "retry-after" { v = $2 } END { print v }')
  if [[ "$retry_after" =~ ^[0-9]+$ ]]; then echo "$retry_after"; return; fi
  reset=$(tr -d '\r' <"$2" | awk -F': *' 'tolower($1) == "x-ratelimit-reset" { v = $2 } END { print v }')
  if [[ "$reset" =~ ^[0-9]+$ ]]; then
    awk -v r="$reset" -v n="$(date +%s.%N)" 'BEGIN { d = r - n; if (d < 0) d = 0; printf "%.3f", d }'
    return
  fi
  awk -v a="$1" -v seed="$RANDOM" 'BEGIN { srand(seed); m = 0.05 * 2 ^ a; if (m > 5) m = 5; printf "%.3f", rand() * m }'
}

# Runs curl with the given arguments, retrying as the kind of call ($1: read, create or
# upload) allows; prints "<status> <body file>" (status 000: no answer).
call() {
  local kind=$1 body headers status rc attempt=0 retry
  shift
  body=$(mktemp -p "$TMP")
  headers=$(mktemp -p "$TMP")
  while :; do
    # The key reaches curl on its standard input (read by `--header @-`), never in its
    # arguments, which any local user can read in the process list.
    status=$(curl --silent --show-error --output "$body" --dump-header "$headers" \
      --connect-timeout "$TIMEOUT" --speed-limit 1 --speed-time "$TIMEOUT" \
      --write-out '%{http_code}' "$@" 2>/dev/null <<<"u21-key: $U21_API_KEY")
    rc=$?
    [ "$rc" -eq 0 ] || status=000
    retry=no
    case "$status" in
      429 | 503) retry=yes ;;
      5??) [ "$kind" = create ] || retry=yes ;;
      # curl's 7: no connection was made, so nothing was sent.
      000) if [ "$kind" != create ] || [ "$rc" -eq 7 ]; then retry=yes; fi ;;
    esac
    if [ "$retry" = no ] || [ "$attempt" -ge "$RETRIES" ]; then break; fi
    sleep "$(pause_for "$attempt" "$headers")"
    attempt=$((attempt + 1))
  done
  echo "$status $body"
}

# Answers with an error: id, status, body file.
fail() {
  local id=$1 status=$2 body=$3 error_code=null s3_code=null message
  message="request answered $status"
  if [ "$status" = 000 ]; then
    message="no answer (the connection failed or was dropped)"
  elif [ "${status:0:1}" = 3 ]; then
    message="answered $status, a redirect: not followed (the key goes to Unit21's API only)"
  elif [ -s "$body" ] && jq -e . "$body" >/dev/null 2>&1; then
    error_code=$(jq '.error_code // null' "$body")
    message=$(jq -r '.message // empty' "$body")
    [ -n "$message" ] || message="Unit21 answered $status"
  elif grep -q '<Code>' "$body" 2>/dev/null; then
    s3_code=$(sed -n 's:.*<Code>\(.*\)</Code>.*:\1:p' "$body" | jq -R .)
    message=$(sed -n 's:.*<Message>\(.*\)</Message>.*:\1:p' "$body")
  fi
  [ "$status" = 000 ] && status=null
  jq -cn --argjson id "$id" --argjson status "$status" --argjson error_code "$error_code" \
    --argjson s3_code "$s3_code" --arg message "$message" \
    '{id: $id, ok: false, error: {status: $status, error_code: $error_code, s3_code: $s3_code, message: $message}}'
}

ok() { jq -cn --argjson id "$1" --slurpfile result "$2" '{id: $id, ok: true, result: $result[0]}'; }

# The documentation's three requests.
create() {
  call create --request POST --url "$BASE/v1/imports/pre-signed-url/create" \
    --header 'accept: application/json' --header 'content-type: application/json' \
    --header @- --data "$(jq -cn --arg s "$1" --arg f "$2" '{stream_name: $s, file_name: $f}')"
}

# File names and field values are data, never curl syntax: the fields go with --form-string
# (where `;` `,` `@` `<` mean nothing), and the file's path is quoted, its `\` and `"` escaped
# (curl then sends its last segment as the part's filename, `"` written %22 as browsers do).
# No u21-key: the key goes to Unit21's API only, never to S3.
upload() { # form file, path
  local fields=() path=${2//\\/\\\\} size
  path=${path//\"/\\\"}
  while IFS= read -r -d '' pair; do fields+=(--form-string "$pair"); done \
    < <(jq -j '.form_fields | to_entries[] | "\(.key)=\(.value)\u0000"' "$1")
  # curl's stall check averages over the last seconds, so right after the file went out it
  # does not see a server that never answers: an upload also gets an overall limit, the
  # timeout plus a second for every 64 KiB (300 MB: 80 minutes).
  size=$(wc -c <"$2")
  call upload --request POST --url "$(jq -r .url "$1")" --header 'content-type: multipart/form-data' \
    --max-time "$((TIMEOUT + size / 65536))" "${fields[@]}" --form "file=@\"$path\""
}

status() {
  call read --request GET --url "$BASE/v1/imports/$1" \
    --header 'accept: application/json' --header @-
}

list() { # body
  call read --request POST --url "$BASE/v1/imports/list" \
    --header 'accept: application/json' --header 'content-type: application/json' \
    --header @- --data "$1"
}

success() { [ "${1:0:1}" = 2 ]; }

while IFS= read -r request; do
  id=$(jq .id <<<"$request")
  op=$(jq -r .op <<<"$request")
  case "$op" in
    create)
      read -r st body < <(create "$(jq -r .stream <<<"$request")" "$(jq -r .file_name <<<"$request")")
      if success "$st"; then ok "$id" "$body"; else fail "$id" "$st" "$body"; fi ;;
    upload_form|upload)
      path=$(jq -r .path <<<"$request")
      form=$(mktemp -p "$TMP")
      if [ "$op" = upload ]; then
        read -r st body < <(create "$(jq -r .stream <<<"$request")" "$(basename "$path")")
        if ! success "$st"; then fail "$id" "$st" "$body"; continue; fi
        cp "$body" "$form"
      else
        jq .form <<<"$request" >"$form"
      fi
      read -r st body < <(upload "$form" "$path")
      if ! success "$st"; then fail "$id" "$st" "$body"; continue; fi
      if [ "$op" = upload ]; then ok "$id" "$form"; else echo '{}' >"$body"; ok "$id" "$body"; fi ;;
    status)
      read -r st body < <(status "$(jq -r .file_id <<<"$request")")
      if success "$st"; then ok "$id" "$body"; else fail "$id" "$st" "$body"; fi ;;
    wait)
      file_id=$(jq -r .file_id <<<"$request")
      deadline=$(( $(date +%s%N) / 1000000 + $(jq '.timeout_secs * 1000 | floor' <<<"$request") ))
      pause=0.1
      while :; do
        read -r st body < <(status "$file_id")
        if ! success "$st"; then fail "$id" "$st" "$body"; break; fi
        state=$(jq -r .status "$body")
        case "$state" in FINISHED|FAILED|DELETED) ok "$id" "$body"; break ;; esac
        if [ $(( $(date +%s%N) / 1000000 )) -ge "$deadline" ]; then
          jq -cn --argjson id "$id" --arg m "file $file_id was still $state when the wait timed out" \
            '{id: $id, ok: false, error: {status: null, error_code: null, s3_code: null, message: $m, timed_out: true}}'
          break
        fi
        left=$(( deadline - $(date +%s%N) / 1000000 ))
        sleep "$(awk -v p="$pause" -v l="$left" 'BEGIN { l /= 1000; printf "%.3f", (p < l ? p : l) }')"
        pause=$(jq -n "[$pause * 1.5, 2] | min")
      done ;;
    list)
      read -r st body < <(list "$(jq -c .request <<<"$request")")
      if success "$st"; then ok "$id" "$body"; else fail "$id" "$st" "$body"; fi ;;
    list_all)
      filters=$(jq -c .request <<<"$request")
      limit=$(jq '.limit // 1000' <<<"$filters")
      all=$(mktemp -p "$TMP"); echo '[]' >"$all"
      page=1
      while :; do
        read -r st body < <(list "$(jq -c --argjson p "$page" --argjson l "$limit" '. + {offset: $p, limit: $l}' <<<"$filters")")
        if ! success "$st"; then fail "$id" "$st" "$body"; break; fi
        # A file created while paging pushes the others down a place: keep each file once.
        jq -s 'reduce (.[0] + .[1].datafiles)[] as $f ({seen: {}, out: []};
                 if .seen[$f.file_id] then . else .seen[$f.file_id] = true | .out += [$f] end) | .out' \
          "$all" "$body" >"$all.next" && mv "$all.next" "$all"
        got=$(jq '.datafiles | length' "$body"); total=$(jq .total_count "$body"); seen=$(jq length "$all")
        if [ "$got" -lt "$limit" ] || [ "$seen" -ge "$total" ]; then
          jq '{datafiles: .}' "$all" >"$body"; ok "$id" "$body"; break
        fi
        page=$((page + 1))
      done ;;
    *)
      jq -cn --argjson id "$id" --arg m "unknown op $op" '{id: $id, ok: false, error: {status: null, error_code: null, s3_code: null, message: $m}}' ;;
  esac
done
