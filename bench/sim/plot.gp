# Plots of a podmig-sim run written with --out DIR:
#   gnuplot -e "dir='DIR'; name='1,000 nodes'" bench/sim/plot.gp
# writes DIR/overload.png (nodes above 100 % of capacity over time, per policy),
# DIR/threshold.png (nodes above a threshold over time) and DIR/tradeoff.png (overloaded
# and over-threshold node-hours against GiB moved, one point per policy).
if (!exists("dir")) dir = "."
if (!exists("name")) name = dir
set terminal pngcairo size 900,500 noenhanced
set key outside right
set grid

set output dir."/overload.png"
set title "Nodes above 100 % of capacity, ".name
set xlabel "hour"
set ylabel "overloaded nodes"
plot for [i=2:7] dir."/timeline.dat" using 1:i with steps lw 1.5 title columnhead(i)

set output dir."/threshold.png"
set title "Nodes above a threshold (CPU 80 %, memory 85 %), ".name
set ylabel "nodes over threshold"
set logscale y
plot for [i=2:7] dir."/timeline-threshold.dat" using 1:($0 > 0 ? column(i) + 0.5 : 1/0) \
     with steps lw 1.5 title columnhead(i)
unset logscale y

set output dir."/tradeoff.png"
set title "Overload against data moved, one point per policy, ".name
set xlabel "GiB moved by migrations (evictions move none)"
set ylabel "node-hours (log)"
set logscale y
set offsets graph 0.05, graph 0.25, graph 0.1, graph 0.1
plot dir."/summary.dat" using 5:($2 + 0.001) with points pt 7 ps 1.5 title "above 100 % (+0.001)", \
     "" using 5:($2 + 0.001):1 with labels offset 1,1 left notitle, \
     "" using 5:3 with points pt 5 ps 1.5 title "above a threshold", \
     "" using 5:3:1 with labels offset 1,-1 left notitle
