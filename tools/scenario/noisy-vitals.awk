#!/usr/bin/awk -f
# SPDX-License-Identifier: Apache-2.0
# Writes a 24 h vital-signs trace of a patient at home as scenario lines
# (docs/scenarios.md): SpO2 and heart rate every 5 min, temperature every
# 30 min, with the noise of real home sensors (slow drift plus jitter, a
# sleep period, three short walks, an afternoon temperature near 38.0).
# Deterministic: its own generator, seeded with -v seed=N (default 1), so
# mawk and gawk write the same file.  Used to write
# tests/scenarios/noise/noisy_vitals_24h*.scn:
#   awk -v seed=1 -f tools/scenario/noisy-vitals.awk
function rnd() { state = (state * 1103515245 + 12345) % 2147483648; return state / 2147483648 }
function gauss(   u, v) { u = rnd(); if (u < 1e-9) u = 1e-9; v = rnd(); return sqrt(-2 * log(u)) * cos(6.283185307 * v) }
function hhmm(min,   d, h, m) { d = int(min / 1440) + 1; min %= 1440; h = int(min / 60); m = min % 60; return sprintf("D%d %02d:%02d", d, h, m) }
BEGIN {
    state = (seed ? seed : 1) * 7919 % 2147483648
    spo2 = 0; hr = 0
    for (t = 360; t < 360 + 1440; t += 5) {
        tod = t % 1440
        asleep = tod >= 23 * 60 || tod < 6 * 60 + 30
        walk = (tod >= 9 * 60 && tod < 9 * 60 + 15) || (tod >= 14 * 60 && tod < 14 * 60 + 20) ||
               (tod >= 18 * 60 && tod < 18 * 60 + 15)
        # SpO2: mean 94.3 awake, 93.4 asleep; AR(1) drift and sensor jitter
        spo2 = 0.85 * spo2 + 0.6 * gauss()
        s = int((asleep ? 93.4 : 94.3) + spo2 + 0.7 * gauss() + 0.5)
        if (s > 99) s = 99
        # heart rate: 84 awake, 72 asleep, +30 on a walk
        hr = 0.8 * hr + 4 * gauss()
        h = int((asleep ? 72 : 84) + (walk ? 30 : 0) + hr + 3 * gauss() + 0.5)
        printf "%s reading vitals-1 spo2 %d\n", hhmm(t), s
        printf "=        reading vitals-1 hr %d\n", h
        if (t % 30 == 0) {
            # temperature: 37.2, rising to 37.85 between 14:00 and 20:00
            base = (tod >= 14 * 60 && tod < 20 * 60) ? 37.85 : 37.2
            printf "=        reading vitals-1 temp %.1f\n", base + 0.18 * gauss()
        }
    }
}
