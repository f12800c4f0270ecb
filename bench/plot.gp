# SPDX-License-Identifier: MIT
#
# librtasync's ratios against its peers, one horizontal bar per comparison,
# from the chart data `rtasync-bench --chart-data FILE` writes. A bar
# right of the dashed line at 1x means librtasync is cheaper/faster by that
# factor; a black tick marks the row's target when it has one.
#
# The ratio targets are drawn; a row whose target is absolute (ns, MiB)
# only shows met/missed by colour.
#
#   gnuplot -e "data='build/bench-chart.tsv'; out='Documentation/bench-core.svg'" bench/plot.gp
#
# bench/report.sh runs this for you.

if (!exists("data")) data = 'bench-chart.tsv'
if (!exists("out")) out = 'bench-core.svg'
# The machine line is the data file's first comment.
if (!exists("machine")) machine = system("sed -n '1s/^# //p' '" . data . "'")

set datafile separator "\t"
stats data using 2 nooutput
n = STATS_records
lo = STATS_min < 0.5 ? STATS_min / 2.0 : 0.25
hi = STATS_max * 12.0

set terminal svg size 1000, (150 + 30 * n) dynamic noenhanced \
    font 'DejaVu Sans,12' background rgb 'white'
set output out

set title "librtasync vs its peers (ratio, log scale; > 1 = librtasync better)\n" . machine
set logscale x 10
set xrange [lo : hi]
set yrange [n - 0.5 : -0.5]
set format x "%gx"
set grid xtics lc rgb '#dddddd'
set ytics nomirror scale 0
set xtics nomirror
set border 3
set key outside bottom center horizontal
set arrow 1 from 1, graph 0 to 1, graph 1 nohead dt 2 lc rgb '#333333'
set style fill solid 0.85 noborder

# Columns: label, ratio, target ratio (0: none), met (1, 0, -1: no target).
# Green: every target of the row met (ratio or absolute); red: missed;
# blue: no target and librtasync ahead; grey: no target and behind.
color(r, m) = m > 0 ? 0x2e8b57 : m == 0 ? 0xd9534f : (r >= 1 ? 0x4682b4 : 0x999999)
target(t) = t > 0 ? t : NaN
ratio_text(r) = r >= 100 ? sprintf(" %.0fx", r) : sprintf(" %.3gx", r)

plot data using (sqrt($2)):0:($2 < 1 ? $2 : 1):($2 < 1 ? 1 : $2):($0 - 0.35):($0 + 0.35):(color($2, $4)):ytic(1) \
        with boxxyerror lc rgb variable notitle, \
     '' using 2:0:(ratio_text($2)) with labels left font ',10' notitle, \
     '' using (target($3)):($0 - 0.45):(0):(0.9) with vectors nohead lw 3 lc rgb 'black' notitle, \
     keyentry with lines lw 3 lc rgb 'black' title 'target', \
     keyentry with boxes fc rgb '#2e8b57' title 'target met', \
     keyentry with boxes fc rgb '#d9534f' title 'target missed', \
     keyentry with boxes fc rgb '#4682b4' title 'no target'
