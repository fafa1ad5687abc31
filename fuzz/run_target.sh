#!/usr/bin/env bash
# Runs one libFuzzer target for ctest (see fuzz/CMakeLists.txt).
#   run_target.sh bounded BINARY NAME SOURCE_DIR WORK_DIR SECONDS
#     fuzzes a fresh copy of fuzz/corpus/NAME/ (the committed seeds stay as they are) for SECONDS
#     with a fixed seed; a crash input is saved under WORK_DIR/artifacts/NAME/.
#   run_target.sh regressions BINARY NAME SOURCE_DIR WORK_DIR
#     runs every seed and every saved crash input (fuzz/regressions/NAME/) once.
set -uo pipefail
mode="$1" binary="$2" name="$3" source_dir="$4" work_dir="$5" seconds="${6:-30}"

common=(-rss_limit_mb=2048 -timeout=10)
if [[ -f "$source_dir/$name.dict" ]]; then common+=("-dict=$source_dir/$name.dict"); fi

case "$mode" in
  bounded)
    corpus="$work_dir/corpus-ci/$name"
    artifacts="$work_dir/artifacts/$name"
    rm -rf "$corpus" "$artifacts"
    mkdir -p "$corpus" "$artifacts"
    cp -r "$source_dir/corpus/$name/." "$corpus/"
    "$binary" "${common[@]}" -seed=1 -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$artifacts/" "$corpus"
    status=$?
    if [[ $status -ne 0 ]]; then
      echo "FUZZ FAILURE in $name (exit $status); inputs that fail:"
      ls -1 "$artifacts"/* 2>/dev/null
      echo "Reproduce: $binary <input>; keep it: copy it into fuzz/regressions/$name/ (docs/fuzzing.md)"
    fi
    exit $status
    ;;
  regressions)
    inputs=()
    for dir in "$source_dir/corpus/$name" "$source_dir/regressions/$name"; do
      [[ -d "$dir" ]] || continue
      while IFS= read -r -d '' file; do inputs+=("$file"); done \
        < <(find "$dir" -maxdepth 1 -type f ! -name '.*' -print0 | sort -z)
    done
    if [[ ${#inputs[@]} -eq 0 ]]; then
      echo "no seeds or regression inputs for $name"
      exit 1
    fi
    echo "running ${#inputs[@]} inputs for $name"
    exec "$binary" "${common[@]}" "${inputs[@]}"
    ;;
  *)
    echo "usage: $0 bounded|regressions BINARY NAME SOURCE_DIR WORK_DIR [SECONDS]" >&2
    exit 64
    ;;
esac
