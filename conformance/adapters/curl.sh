#!/usr/bin/env bash
# A Unit21 imports client made of the documentation's own curl commands, speaking the
# conformance adapter protocol (see conformance/src/driver.rs): one JSON request per line on
# stdin, one JSON answer per line on stdout. Needs bash, curl (7.71 or later) and jq.
# U21_BASE_URL and U21_API_KEY say where and who.
#
# curl's --retry retries 429 (after Retry-After), 408 and 5xx answers; reads also retry
# dropped connections (--retry-all-errors). The create call and S3 uploads are not blindly
# retried on a dropped connection: the server may already have done the work.
set -uo pipefail

BASE="${U21_BASE_URL%/}"
RETRY=(--retry 4 --retry-max-time 60)

# Runs curl with the given arguments; prints "<status> <body file>".
call() {
  local body status
  body=$(mktemp)
  status=$(curl --silent --show-error --output "$body" --write-out '%{http_code}' "$@" 2>/dev/null) || status=000
  echo "$status $body"
}

# Answers with an error: id, status, body file.
fail() {
  local id=$1 status=$2 body=$3 error_code=null s3_code=null message
  message="request answered $status"
  if jq -e . "$body" >/dev/null 2>&1; then
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
  call --request POST --url "$BASE/v1/imports/pre-signed-url/create" "${RETRY[@]}" \
    --header 'accept: application/json' --header 'content-type: application/json' \
    --header "u21-key: $U21_API_KEY" \
    --data "$(jq -cn --arg s "$1" --arg f "$2" '{stream_name: $s, file_name: $f}')"
}

upload() { # form file, path
  local fields=()
  while IFS= read -r pair; do fields+=(--form "$pair"); done < <(jq -r '.form_fields | to_entries[] | "\(.key)=\(.value)"' "$1")
  call --request POST --url "$(jq -r .url "$1")" --retry 4 --header 'content-type: multipart/form-data' \
    "${fields[@]}" --form "file=@$2"
}

status() {
  call --request GET --url "$BASE/v1/imports/$1" "${RETRY[@]}" --retry-all-errors \
    --header 'accept: application/json' --header "u21-key: $U21_API_KEY"
}

list() { # body
  call --request POST --url "$BASE/v1/imports/list" "${RETRY[@]}" --retry-all-errors \
    --header 'accept: application/json' --header 'content-type: application/json' \
    --header "u21-key: $U21_API_KEY" --data "$1"
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
      form=$(mktemp)
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
            '{id: $id, ok: false, error: {status: null, error_code: null, s3_code: null, message: $m}}'
          break
        fi
        sleep "$pause"
        pause=$(jq -n "[$pause * 1.5, 2] | min")
      done ;;
    list)
      read -r st body < <(list "$(jq -c .request <<<"$request")")
      if success "$st"; then ok "$id" "$body"; else fail "$id" "$st" "$body"; fi ;;
    list_all)
      filters=$(jq -c .request <<<"$request")
      limit=$(jq '.limit // 1000' <<<"$filters")
      all=$(mktemp); echo '[]' >"$all"
      page=1
      while :; do
        read -r st body < <(list "$(jq -c --argjson p "$page" --argjson l "$limit" '. + {offset: $p, limit: $l}' <<<"$filters")")
        if ! success "$st"; then fail "$id" "$st" "$body"; break; fi
        jq -s '.[0] + .[1].datafiles' "$all" "$body" >"$all.next" && mv "$all.next" "$all"
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
