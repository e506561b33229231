#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The demo's hospital desk: what a professional's application sees on the
# hospital broker, one readable line per message, as it arrives.  It reads
# `mosquitto_sub -v` output (topic, a space, the JSON body on one line) from
# stdin, e.g.
#
#   mosquitto_sub -h HOST -p 8883 --cafile ca.crt --cert had.crt --key had.key \
#       -q 1 -c -v -t 'relais/gw/+/alert/#' -t 'relais/gw/+/obs/+' \
#       -t 'relais/gw/+/status' | tools/demo/hospital-desk.sh
#
# and prints
#   alert message Bundles (relais/gw/{gw}/alert/{team}): the event's time
#     (Bundle.timestamp, the gateway's clock, in $TZ, Europe/Paris by
#     default), the team (from the topic), the alert id (DetectedIssue
#     identifier[0]), the rule (DetectedIssue code.text), the priority of the
#     event (Communication.priority: stat HIGH, urgent MEDIUM, routine LOW),
#     the event (MessageHeader eventCoding.code) and who acted, if anyone;
#   telemetry transaction Bundles (relais/gw/{gw}/obs/{patient}): the
#     patient and how many resources of each type (Observation,
#     MedicationAdministration, Device);
#   acknowledgements published on relais/gw/{gw}/alert/ack and relaisd's
#     answers on .../alert/ack/result;
#   the gateway's retained status when its state changes (online, offline).
# Environment: DESK_D1 (seconds since 1970 of a care plan's day 1, 00:00
# local): times are shown as "D<n> HH:MM"; DESK_OBS=0: telemetry Bundles are
# not shown (a scenario sends hundreds).  An alert's raise and upgrade are
# followed by the patient and the evidence (DetectedIssue.detail).
# Needs jq 1.6 or later.  Ends when stdin ends.
set -euo pipefail

# shellcheck disable=SC2016 # a jq program, not shell
PROGRAM='
def secs: if type == "string" then sub("\\.[0-9]+"; "") | fromdateiso8601
          elif type == "number" then ./1000 | floor else null end;
def hhmm: secs as $s
    | if $s == null then "--:--"
      elif ($ENV.DESK_D1 // "") != "" then
          "D\((($s - ($ENV.DESK_D1 | tonumber)) / 86400 | floor) + 1) \($s | localtime | strftime("%H:%M"))"
      else $s | localtime | strftime("%H:%M") end;
def pad($n): tostring | . + (" " * ([$n - length, 0] | max));
def prio: {"stat": "HIGH", "asap": "HIGH", "urgent": "MEDIUM", "routine": "LOW"}[.] // .;
def red: "\u001b[1;31m\(.)\u001b[0m";
def bold: "\u001b[1m\(.)\u001b[0m";
def blue: "\u001b[1;34m\(.)\u001b[0m";
def plural($n): if $n == 1 then . else . + "s" end;

# one line -> {topic, parts, body} (body null when it is not JSON)
def message: capture("^(?<topic>[^ ]+) ?(?<raw>.*)$")
    | .parts = (.topic | split("/"))
    | .body = (.raw | try fromjson catch null);

def alert_line($team):
    .body as $b
    | if ($b | type) != "object" then error("not a Bundle") else . end
    | ($b.entry // [] | map(.resource)) as $r
    | ($r | map(select(.resourceType == "MessageHeader")) | first // {}) as $h
    | ($r | map(select(.resourceType == "DetectedIssue")) | first // {}) as $di
    | ($r | map(select(.resourceType == "Communication")) | first // {}) as $c
    | ($c.payload[0].contentString // "" | [match("; by ([^;]+)").captures[0].string] | first) as $by
    | ($h.eventCoding.code // "?") as $event
    | ("alert" | red) + " \($b.timestamp | hhmm)  \($team | pad(13)) \($di.identifier[0].value // "?" | pad(11)) "
      + "\($di.code.text // "?" | pad(16)) \(($c.priority // "?") | prio | pad(7)) \($event)"
      + (if $by then " by \($by)" else "" end)
      + (if $event == "raised" or $event == "upgraded" then
            "\n            patient \($di.patient.identifier.value // "?"): \($di.detail // "" | sub("^[a-z_]+ alert \\([A-Z]+\\) for patient [^:]+: "; "") | .[0:150])"
         else "" end);

def obs_line($patient):
    (.body.entry // [] | map(.resource.resourceType) | group_by(.)
     | map(length as $n | "\($n) \(.[0] | plural($n))")) as $counts
    | "obs          \($patient | pad(13)) " + (if $counts == [] then "(empty Bundle)" else $counts | join(", ") end);

def status_key: if type == "object" then .state // "?" else "?" end;

def line($m):
    if ($m.parts | length) == 6 and $m.parts[3:] == ["alert", "ack", "result"] then
        $m.body | "\("ack <-" | blue)  \(.alert // "-"): \(.status // "?")"
            + (if .action then " (\(.action)\(if .by then " by \(.by)" else "" end))" else "" end)
            + (if .error then ": \(.error)" else "" end)
    elif ($m.parts | length) == 5 and $m.parts[3:] == ["alert", "ack"] then
        $m.body | "\("ack ->" | blue)  \(.alert) \(.action) by \(.by) to \($m.parts[2])"
    elif ($m.parts | length) == 5 and $m.parts[3] == "alert" then $m | alert_line($m.parts[4])
    elif ($m.parts | length) == 5 and $m.parts[3] == "obs" then
        if $ENV.DESK_OBS == "0" then empty else $m | obs_line($m.parts[4]) end
    elif ($m.parts | length) == 4 and $m.parts[3] == "status" then
        "status       \($m.parts[2] | pad(13)) \($m.body | status_key)"
            + (if $m.body.version then " (relaisd \($m.body.version))" else "" end)
    else error("unknown") end;

# a status is shown when the state of its gateway changes; anything unexpected
# (not JSON, another topic, messages of mosquitto_sub itself) as it came
foreach (inputs | select(length > 0) | message) as $m ({};
    if ($m.parts | length) == 4 and $m.parts[3] == "status" then
        .emit = (.status[$m.parts[2]] != ($m.body | status_key))
        | .status[$m.parts[2]] = ($m.body | status_key)
    else .emit = true end;
    if .emit then (try line($m) catch "\($m.topic) \($m.raw[0:160])") | "  \("hospital" | bold)  " + .
    else empty end)
'
exec env TZ="${TZ:-Europe/Paris}" jq -nrR --unbuffered "$PROGRAM"
