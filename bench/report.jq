# SPDX-License-Identifier: GPL-2.0
#
# bench/report's reduction: every record of a run (one JSON object each,
# slurped; fio records carry the figures of their fio job) into
# results.json.  Repeated measurements (rounds, repetitions) become their
# median, with the smallest and largest value and their number; ratios
# are taken between medians.
#
# jq -s --slurpfile run run.json -f bench/report.jq records.jsonl

def r2: if . == null then null else (. * 100 | round) / 100 end;
def ratio($a; $b):
	if $a == null or $b == null or $b == 0 then null else ($a / $b | r2) end;
# median of an array of numbers (mean of the two middle ones when even)
def median:
	map(select(. != null)) | sort | length as $n
	| if $n == 0 then null
	  elif $n % 2 == 1 then .[($n - 1) / 2]
	  else (.[$n / 2 - 1] + .[$n / 2]) / 2 end;
# a group of records of one measurement -> one, with medians of FIELDS
def reduce_runs($fields):
	. as $g
	| ($g | sort_by(.iops // .ms // .wall_us // 0)) as $s
	| $s[(($s | length) - 1) / 2 | floor]
	+ (reduce $fields[] as $f ({}; . + {($f): ($g | map(.[$f]) | median)}))
	+ {n: ($g | length)};

. as $all
| ($all | map(select(.kind == "env")) | first) as $env

# ---- fio figures ------------------------------------------------------------
| ($all | map(select(.kind == "fio" and .workload != "base-fill"
	and (.part == "101-block" or .part == "102-tenants")))
	| group_by([.part, .workload, .config, .tenants])
	| map(. as $g
		| reduce_runs(["iops", "mib_s", "read_iops", "write_iops"])
		+ {iops_min: ($g | map(.iops) | min), iops_max: ($g | map(.iops) | max)}
		| . + {spread: (if .iops > 0 then ((.iops_max - .iops_min) / .iops | r2) else null end)}))
	as $fio
| def peer($r; $cfg): $fio | map(select(.part == $r.part and .workload == $r.workload
	and .tenants == $r.tenants and .config == $cfg)) | first;
  def fig: {workload, config, tenants, iops: (.iops | r2), mib_s: (.mib_s | r2),
	read_iops: (.read_iops | r2), write_iops: (.write_iops | r2),
	read_p50_us: (.read_p50_us | r2), read_p99_us: (.read_p99_us | r2),
	write_p50_us: (.write_p50_us | r2), write_p99_us: (.write_p99_us | r2),
	n, iops_min: (.iops_min | r2), iops_max: (.iops_max | r2), spread,
	runtime_ms, wall_ms, file: (.part + "/" + .file)};
  ($fio | map(select(.part == "101-block")
	| . as $r | fig + {ratio_raw: ratio($r.iops; peer($r; "raw").iops),
		ratio_thin: ratio($r.iops; peer($r; "thin").iops)})) as $block
| ($fio | map(select(.part == "102-tenants")
	| . as $r
	| ($fio | map(select(.part == $r.part and .workload == $r.workload
		and .config == $r.config and .tenants == 1)) | first) as $one
	| fig + {per_tenant_iops: ($r.iops / $r.tenants | r2),
		scaling_vs_one: ratio($r.iops; $one.iops),
		ratio_raw: ratio($r.iops; peer($r; "raw").iops),
		ratio_thin: ratio($r.iops; peer($r; "thin").iops)})) as $tenants

# ---- file level ---------------------------------------------------------------
| ($all | map(select(.kind == "fio_startup")) | first | .ms // 0) as $fio0
| ($all | map(select(.kind == "files"))
	| map(. + {net_ms: (if .phase == "delete" then .ms else ([.ms - $fio0, 1] | max) end)})
	| group_by([.config, .phase])
	| map(. as $g | reduce_runs(["ms", "net_ms"])
		+ {ms_min: ($g | map(.ms) | min), ms_max: ($g | map(.ms) | max)}))
	as $f0
| ($f0 | map(. as $r
	| ($f0 | map(select(.phase == $r.phase and .config == "raw")) | first) as $raw
	| ($f0 | map(select(.phase == $r.phase and .config == "thin")) | first) as $thin
	| {config, phase, ms: (.ms | round), net_ms: (.net_ms | round), n,
	   ms_min, ms_max,
	   speed_vs_raw: ratio($raw.net_ms; $r.net_ms),
	   speed_vs_thin: ratio($thin.net_ms; $r.net_ms)})) as $files

# ---- space --------------------------------------------------------------------
| ($all | map(select(.kind == "space")) | map(del(.kind))) as $space0
| ($space0 | map(. as $r | ($space0 | map(select(.part == $r.part and .after == $r.after
	and .tenants == $r.tenants and .config == "thin")) | first) as $t
	| . + {ratio_thin: ratio($r.total_bytes; $t.total_bytes)})) as $space

# ---- activation and metadata ----------------------------------------------------
| ($all | map(select(.kind == "activation")) | map(del(.kind, .part))
	| group_by([.target, .mapped])
	| map(. as $g
		| reduce_runs(["wall_us", "load_us", "resume_us", "memfree_kb",
			"slab_kb", "sunreclaim_kb", "vmalloc_kb", "bufio_kb"])
		+ {first_wall_us: ($g | min_by(.rep) | .wall_us)}
		| . + {wall_ms: (.wall_us / 1000 | r2),
		       kernel_ms: (if .load_us < 0 then null
				else ((.load_us + .resume_us) / 1000 | r2) end)}
		| del(.rep)))
	as $act0
| ($act0 | map(select(.target == "linear")) | first) as $floor
| ($act0 | map(. + {wall_over_linear_ms: (if $floor == null then null
		else ((.wall_us - $floor.wall_us) / 1000 | r2) end)}))
	as $act
| ($all | map(select(.kind == "metadata")) | map(del(.kind, .part)
	| . + {bytes_per_mapped_chunk: (.meta_bytes / .mapped | r2),
	       bytes_per_virtual_chunk: (.meta_bytes / .virtual_chunks | r2)}))
	as $meta

# ---- the goals (docs/benchmarks.md) -------------------------------------------------
| def blk($w; $c): $block | map(select(.workload == $w and .config == $c)) | first;
  def goal($name; $target; $value; $ok): {goal: $name, target: $target,
	measured: $value, met: (if $value == null then null else $ok end)};
  ($act | map(select(.target == "unionblk")) | max_by(.mapped)) as $ub_big
| (([ "ub4k", "ub64k" ] | map(. as $c |
	( (blk("firstwrite-4k"; $c).ratio_thin) as $v
	  | goal("first-write 4 KiB random IOPS, \($c), vs dm-thin (external origin)"; ">= 4x"; $v; $v >= 4) ),
	( (blk("rewrite-4k"; $c).ratio_raw) as $v
	  | goal("rewrite 4 KiB random IOPS, \($c), vs raw"; ">= 0.9x"; $v; $v >= 0.9) ),
	( (blk("randread-4k"; $c).ratio_raw) as $v
	  | goal("read-through 4 KiB random IOPS, \($c), vs raw"; ">= 0.9x"; $v; $v >= 0.9) ),
	( (blk("seqread-1m"; $c).ratio_raw) as $v
	  | goal("read-through 1 MiB sequential, \($c), vs raw"; ">= 0.9x"; $v; $v >= 0.9) ),
	( $tenants | map(select(.config == $c and .tenants == 32)) | .[]
	  | .scaling_vs_one as $v
	  | goal("32 tenants, \(.workload), \($c): aggregate vs one tenant (= per-tenant share)"; ">= 0.8x"; $v; $v >= 0.8) )
  ) | flatten | map(select(.measured != null)))
  + ($meta | map(select(.target == "unionblk")) | map(. as $m
	| goal("metadata per mapped chunk, unionblk, \($m.mapped) of \($m.virtual_chunks) chunks mapped"; "<= 8 B";
		$m.bytes_per_mapped_chunk; $m.bytes_per_mapped_chunk <= 8)))
  + (if $ub_big == null then [] else [
	goal("activation, unionblk, \($ub_big.mapped) mapped chunks: kernel time of the ioctls"; "< 100 ms";
		$ub_big.kernel_ms; $ub_big.kernel_ms < 100),
	goal("activation, unionblk, \($ub_big.mapped) mapped chunks: dmsetup create, wall"; "< 100 ms";
		$ub_big.wall_ms; $ub_big.wall_ms < 100) ] end))
  as $goals

| {run: ($run[0] + {env: ($env // {} | del(.kind, .part)),
	parts: ($all | map(select(.kind == "end")) | map({part, status, seconds}))}),
   block: $block, tenants: $tenants, files: $files, fio_startup_ms: $fio0,
   inode: ($all | map(select(.kind == "inode")) | map(del(.kind, .part))),
   pagecache: ($all | map(select(.kind == "pagecache")) | map(del(.kind, .part))),
   mounts: ($all | map(select(.kind == "mount")) | map(del(.kind, .part))),
   overlay_params: ($all | map(select(.kind == "overlay_params")) | first | del(.kind, .part)?),
   discard: ($all | map(select(.kind == "discard")) | map(del(.kind, .part))),
   nospace: ($all | map(select(.kind == "nospace")) | map(del(.kind, .part))),
   space: $space, activation: $act, metadata: $meta, goals: $goals}
