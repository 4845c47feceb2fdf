#!/usr/bin/env perl
# Per-request costs from two callgrind_annotate reports of the same program
# run with K1 and K2 requests (or calls): (cost(K2) - cost(K1)) / (K2 - K1)
# for every function, largest first. Start-up and teardown cancel out.
#
# usage: per-request.pl K1 K2 annotate-K1.txt annotate-K2.txt [TOP]
use strict;
use warnings;

my ($k1, $k2, $file1, $file2, $top) = @ARGV;
die "usage: $0 K1 K2 annotate-K1.txt annotate-K2.txt [TOP]\n"
  unless defined $file2 && $k2 > $k1;
$top //= 60;

sub costs {
    my ($file) = @_;
    my %cost;
    open my $fh, '<', $file or die "$file: $!\n";
    while (my $line = <$fh>) {
        next unless $line =~ /^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*?)\s*$/;
        my ($n, $name) = ($1, $2);
        $n =~ tr/,//d;
        # Shorter names: no unknown file, object files by their base name.
        $name =~ s/^\?\?\?://;
        $name =~ s{ \[(?:[^\]]*/)?([^/\]]+)\]$}{ [$1]};
        # Cargo's hash in test and bench executables' names.
        $name =~ s{-[0-9a-f]{16}\]$}{]};
        $cost{$name} += $n;
    }
    return \%cost;
}

my ($c1, $c2) = (costs($file1), costs($file2));
my $span = $k2 - $k1;
my %per;
for my $name (keys %$c2) {
    my $d = ($c2->{$name} - ($c1->{$name} // 0)) / $span;
    $per{$name} = $d if abs($d) >= 0.5;
}
my $total = $per{'PROGRAM TOTALS'} // 0;
delete $per{'PROGRAM TOTALS'};
printf "%.0f instructions per request in all (%s vs %s)\n\n", $total, $file1, $file2;
printf "%10s %7s  %s\n", 'Ir/req', '%', 'function';
my $shown = 0;
for my $name (sort { $per{$b} <=> $per{$a} || $a cmp $b } keys %per) {
    last if $shown++ >= $top;
    printf "%10.0f %6.1f%%  %s\n", $per{$name}, $total ? 100 * $per{$name} / $total : 0, $name;
}
