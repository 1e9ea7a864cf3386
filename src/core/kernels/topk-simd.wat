;; Retrieval kernel in WebAssembly SIMD: dot products of one query with many item rows, four
;; rows at a time, with a fused top-k threshold. Compiled by scripts/build-wasm.mjs (the wabt
;; npm package) into topk-simd.wasm.ts; driven by wasm-kernel.ts.
;;
;; Row layouts (prepared once by wasm-kernel.ts):
;;   int8: each row padded with zeros to `chunks` × 16 bytes; the block padded with zero rows
;;         to a multiple of 4 rows; per-row f32 scales likewise padded to a multiple of 4.
;;         The query is int16 (chunks × 16 values, zero padded): q ≈ q16 · qscale.
;;   f32:  each row padded to `chunks` × 4 floats; rows padded to a multiple of 4. The query
;;         is f32, chunks × 4 values, zero padded.
;;
;; int8 arithmetic: rows are sign-extended to i16 and multiplied with the i16 query by
;; i32x4.dot_i16x8_s, so the i32 sum is exact (the caller keeps 128 · |q16| · dim < 2^31);
;; the score is f32(sum) · (scale · qscale).

(module
  (memory (export "memory") 1 65536)

  ;; Scores rows [row, count) of one block, four per step, and
  ;;  - when $out ≠ 0, stores every score at $out + 4·row (the "score buffer" mode);
  ;;  - appends each row whose score is > $thresh as (index = $base + row, score) to the
  ;;    candidate arrays $cidx / $cscore at position $n, n += 1.
  ;; Stops early, before a step, when fewer than 4 candidate slots remain below $cap, so the
  ;; caller can raise the threshold and call again from the returned row.
  ;; $f32 ≠ 0 selects the f32 layout, else int8. $row must be a multiple of 4.
  ;; Returns (next row, candidate count).
  (func (export "scan")
    (param $f32 i32) (param $rows i32) (param $scales i32) (param $q i32) (param $chunks i32)
    (param $count i32) (param $row i32) (param $qscale f32) (param $thresh f32)
    (param $base i32) (param $out i32) (param $cidx i32) (param $cscore i32)
    (param $n i32) (param $cap i32)
    (result i32 i32)
    (local $stride i32) (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32)
    (local $qp i32) (local $end i32) (local $mask i32) (local $at i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $ql v128) (local $qh v128) (local $v v128) (local $s v128) (local $t v128)
    (local $f v128) (local $qs v128) (local $th v128)

    (local.set $stride (i32.shl (local.get $chunks) (i32.const 4)))
    (local.set $qs (f32x4.splat (local.get $qscale)))
    (local.set $th (f32x4.splat (local.get $thresh)))
    (local.set $p0 (i32.add (local.get $rows) (i32.mul (local.get $row) (local.get $stride))))

    (block $done
      (loop $group
        (br_if $done (i32.ge_u (local.get $row) (local.get $count)))
        (br_if $done (i32.gt_u (i32.add (local.get $n) (i32.const 4)) (local.get $cap)))
        (local.set $p1 (i32.add (local.get $p0) (local.get $stride)))
        (local.set $p2 (i32.add (local.get $p1) (local.get $stride)))
        (local.set $p3 (i32.add (local.get $p2) (local.get $stride)))
        (local.set $end (local.get $p1))
        (local.set $qp (local.get $q))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $a1 (v128.const i32x4 0 0 0 0))
        (local.set $a2 (v128.const i32x4 0 0 0 0))
        (local.set $a3 (v128.const i32x4 0 0 0 0))

        (if (local.get $f32)
          (then
            ;; f32: 4 floats per chunk; one query chunk serves the four rows.
            (loop $chunk
              (local.set $ql (v128.load (local.get $qp)))
              (local.set $a0 (f32x4.add (local.get $a0)
                (f32x4.mul (v128.load (local.get $p0)) (local.get $ql))))
              (local.set $a1 (f32x4.add (local.get $a1)
                (f32x4.mul (v128.load (local.get $p1)) (local.get $ql))))
              (local.set $a2 (f32x4.add (local.get $a2)
                (f32x4.mul (v128.load (local.get $p2)) (local.get $ql))))
              (local.set $a3 (f32x4.add (local.get $a3)
                (f32x4.mul (v128.load (local.get $p3)) (local.get $ql))))
              (local.set $qp (i32.add (local.get $qp) (i32.const 16)))
              (local.set $p0 (i32.add (local.get $p0) (i32.const 16)))
              (local.set $p1 (i32.add (local.get $p1) (i32.const 16)))
              (local.set $p2 (i32.add (local.get $p2) (i32.const 16)))
              (local.set $p3 (i32.add (local.get $p3) (i32.const 16)))
              (br_if $chunk (i32.lt_u (local.get $p0) (local.get $end))))
            ;; Transpose-and-add: lane r of $f becomes the sum of row r's four lanes.
            (local.set $s (f32x4.add
              (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a0) (local.get $a1))
              (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a0) (local.get $a1))))
            (local.set $t (f32x4.add
              (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a2) (local.get $a3))
              (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a2) (local.get $a3))))
            (local.set $f (f32x4.add
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $s) (local.get $t))
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $s) (local.get $t)))))
          (else
            ;; int8: 16 values per chunk, sign-extended to two i16x8 halves.
            (loop $chunk
              (local.set $ql (v128.load (local.get $qp)))
              (local.set $qh (v128.load offset=16 (local.get $qp)))
              (local.set $v (v128.load (local.get $p0)))
              (local.set $a0 (i32x4.add (local.get $a0) (i32x4.add
                (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (local.get $ql))
                (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (local.get $qh)))))
              (local.set $v (v128.load (local.get $p1)))
              (local.set $a1 (i32x4.add (local.get $a1) (i32x4.add
                (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (local.get $ql))
                (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (local.get $qh)))))
              (local.set $v (v128.load (local.get $p2)))
              (local.set $a2 (i32x4.add (local.get $a2) (i32x4.add
                (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (local.get $ql))
                (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (local.get $qh)))))
              (local.set $v (v128.load (local.get $p3)))
              (local.set $a3 (i32x4.add (local.get $a3) (i32x4.add
                (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (local.get $ql))
                (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (local.get $qh)))))
              (local.set $qp (i32.add (local.get $qp) (i32.const 32)))
              (local.set $p0 (i32.add (local.get $p0) (i32.const 16)))
              (local.set $p1 (i32.add (local.get $p1) (i32.const 16)))
              (local.set $p2 (i32.add (local.get $p2) (i32.const 16)))
              (local.set $p3 (i32.add (local.get $p3) (i32.const 16)))
              (br_if $chunk (i32.lt_u (local.get $p0) (local.get $end))))
            (local.set $s (i32x4.add
              (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a0) (local.get $a1))
              (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a0) (local.get $a1))))
            (local.set $t (i32x4.add
              (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a2) (local.get $a3))
              (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a2) (local.get $a3))))
            (local.set $s (i32x4.add
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $s) (local.get $t))
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $s) (local.get $t))))
            (local.set $f (f32x4.mul (f32x4.convert_i32x4_s (local.get $s))
              (f32x4.mul
                (v128.load (i32.add (local.get $scales) (i32.shl (local.get $row) (i32.const 2))))
                (local.get $qs))))))

        ;; $p3 ran to the end of row + 3: the next step's row 0.
        (local.set $p0 (local.get $p3))
        (if (local.get $out)
          (then (v128.store (i32.add (local.get $out) (i32.shl (local.get $row) (i32.const 2)))
            (local.get $f))))
        (local.set $mask (i32x4.bitmask (f32x4.gt (local.get $f) (local.get $th))))
        ;; Padding rows past $count never become candidates.
        (if (i32.gt_u (i32.add (local.get $row) (i32.const 4)) (local.get $count))
          (then (local.set $mask (i32.and (local.get $mask)
            (i32.sub (i32.shl (i32.const 1) (i32.sub (local.get $count) (local.get $row)))
              (i32.const 1))))))
        (if (local.get $mask)
          (then
            (local.set $at (i32.add (local.get $base) (local.get $row)))
            (if (i32.and (local.get $mask) (i32.const 1))
              (then
                (i32.store (i32.add (local.get $cidx) (i32.shl (local.get $n) (i32.const 2)))
                  (local.get $at))
                (f32.store (i32.add (local.get $cscore) (i32.shl (local.get $n) (i32.const 2)))
                  (f32x4.extract_lane 0 (local.get $f)))
                (local.set $n (i32.add (local.get $n) (i32.const 1)))))
            (if (i32.and (local.get $mask) (i32.const 2))
              (then
                (i32.store (i32.add (local.get $cidx) (i32.shl (local.get $n) (i32.const 2)))
                  (i32.add (local.get $at) (i32.const 1)))
                (f32.store (i32.add (local.get $cscore) (i32.shl (local.get $n) (i32.const 2)))
                  (f32x4.extract_lane 1 (local.get $f)))
                (local.set $n (i32.add (local.get $n) (i32.const 1)))))
            (if (i32.and (local.get $mask) (i32.const 4))
              (then
                (i32.store (i32.add (local.get $cidx) (i32.shl (local.get $n) (i32.const 2)))
                  (i32.add (local.get $at) (i32.const 2)))
                (f32.store (i32.add (local.get $cscore) (i32.shl (local.get $n) (i32.const 2)))
                  (f32x4.extract_lane 2 (local.get $f)))
                (local.set $n (i32.add (local.get $n) (i32.const 1)))))
            (if (i32.and (local.get $mask) (i32.const 8))
              (then
                (i32.store (i32.add (local.get $cidx) (i32.shl (local.get $n) (i32.const 2)))
                  (i32.add (local.get $at) (i32.const 3)))
                (f32.store (i32.add (local.get $cscore) (i32.shl (local.get $n) (i32.const 2)))
                  (f32x4.extract_lane 3 (local.get $f)))
                (local.set $n (i32.add (local.get $n) (i32.const 1)))))))
        (local.set $row (i32.add (local.get $row) (i32.const 4)))
        (br $group)))
    (local.get $row)
    (local.get $n))
)
