# Plots of a podmig-sim run written with --out DIR:
#   gnuplot -e "dir='DIR'" bench/sim/plot.gp
# writes DIR/overload.png (nodes above 100 % of capacity over time, per policy) and
# DIR/tradeoff.png (overloaded node-hours against GiB moved, one point per policy).
if (!exists("dir")) dir = "."
set terminal pngcairo size 900,500 noenhanced
set key outside right
set grid

set output dir."/overload.png"
set title "Nodes above 100 % of capacity (".dir.")"
set xlabel "hour"
set ylabel "overloaded nodes"
plot for [i=2:7] dir."/timeline.dat" using 1:i with steps title columnhead(i)

set output dir."/tradeoff.png"
set title "Overload against data moved, one point per policy (".dir.")"
set xlabel "GiB moved by migrations"
set ylabel "overloaded node-hours"
set offsets graph 0.05, graph 0.2, graph 0.1, graph 0.1
plot dir."/summary.dat" using 5:2 with points pt 7 ps 1.5 notitle, \
     "" using 5:2:1 with labels offset 1,1 left notitle
