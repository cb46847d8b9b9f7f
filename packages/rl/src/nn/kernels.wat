;; f64x2 SIMD kernels of a linear layer (see linear.ts, which copies operands into this memory).
;; Every address is a byte offset into the exported memory; matrices are row-major f64.
;; Each output lane is summed in the same order, with the same separate multiply and add roundings, as
;; the scalar JavaScript loops in linear.ts, so the results are bit-identical to them.
;; Regenerate kernels-wasm.ts after an edit: node scripts/build-kernels.mjs
(module
  (memory (export "memory") 1)

  ;; out[b, o] = act(bias[o] + sum_i x[b, i] * wt[i, o]); wt is W transposed ([I, O]); O even.
  ;; Two rows at a time (an odd last row is computed as a pair with itself). act: leaky ReLU when
  ;; $leaky != 0 (z <= 0 -> slope * z), identity otherwise.
  (func (export "forward")
    (param $x i32) (param $wt i32) (param $bias i32) (param $out i32)
    (param $B i32) (param $I i32) (param $O i32) (param $slope f64) (param $leaky i32)
    (local $b i32) (local $o i32) (local $i i32)
    (local $xa i32) (local $xb i32) (local $oa i32) (local $ob i32) (local $w i32)
    (local $u v128) (local $v v128) (local $sl v128) (local $zero v128)
    (local $q0 v128) (local $q1 v128) (local $q2 v128) (local $q3 v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128)
    (local $rowI i32) (local $rowO i32)
    (local.set $sl (f64x2.splat (local.get $slope)))
    (local.set $zero (f64x2.splat (f64.const 0)))
    (local.set $rowI (i32.shl (local.get $I) (i32.const 3)))
    (local.set $rowO (i32.shl (local.get $O) (i32.const 3)))
    (local.set $b (i32.const 0))
    (block $bdone
      (loop $bloop
        (br_if $bdone (i32.ge_s (local.get $b) (local.get $B)))
        (local.set $xa (i32.add (local.get $x) (i32.mul (local.get $b) (local.get $rowI))))
        (local.set $oa (i32.add (local.get $out) (i32.mul (local.get $b) (local.get $rowO))))
        (if (i32.lt_s (i32.add (local.get $b) (i32.const 1)) (local.get $B))
          (then
            (local.set $xb (i32.add (local.get $xa) (local.get $rowI)))
            (local.set $ob (i32.add (local.get $oa) (local.get $rowO))))
          (else
            (local.set $xb (local.get $xa))
            (local.set $ob (local.get $oa))))
        ;; blocks of 8 outputs
        (local.set $o (i32.const 0))
        (block $o8done
          (loop $o8loop
            (br_if $o8done (i32.gt_s (i32.add (local.get $o) (i32.const 8)) (local.get $O)))
            (local.set $w (i32.add (local.get $bias) (i32.shl (local.get $o) (i32.const 3))))
            (local.set $a0 (v128.load (local.get $w)))
            (local.set $a1 (v128.load offset=16 (local.get $w)))
            (local.set $a2 (v128.load offset=32 (local.get $w)))
            (local.set $a3 (v128.load offset=48 (local.get $w)))
            (local.set $c0 (local.get $a0))
            (local.set $c1 (local.get $a1))
            (local.set $c2 (local.get $a2))
            (local.set $c3 (local.get $a3))
            (local.set $w (i32.add (local.get $wt) (i32.shl (local.get $o) (i32.const 3))))
            (local.set $i (i32.const 0))
            (block $idone
              (loop $iloop
                (br_if $idone (i32.ge_s (local.get $i) (local.get $I)))
                (local.set $u (v128.load64_splat (i32.add (local.get $xa) (i32.shl (local.get $i) (i32.const 3)))))
                (local.set $v (v128.load64_splat (i32.add (local.get $xb) (i32.shl (local.get $i) (i32.const 3)))))
                (local.set $q0 (v128.load (local.get $w)))
                (local.set $q1 (v128.load offset=16 (local.get $w)))
                (local.set $q2 (v128.load offset=32 (local.get $w)))
                (local.set $q3 (v128.load offset=48 (local.get $w)))
                (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (local.get $u) (local.get $q0))))
                (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul (local.get $u) (local.get $q1))))
                (local.set $a2 (f64x2.add (local.get $a2) (f64x2.mul (local.get $u) (local.get $q2))))
                (local.set $a3 (f64x2.add (local.get $a3) (f64x2.mul (local.get $u) (local.get $q3))))
                (local.set $c0 (f64x2.add (local.get $c0) (f64x2.mul (local.get $v) (local.get $q0))))
                (local.set $c1 (f64x2.add (local.get $c1) (f64x2.mul (local.get $v) (local.get $q1))))
                (local.set $c2 (f64x2.add (local.get $c2) (f64x2.mul (local.get $v) (local.get $q2))))
                (local.set $c3 (f64x2.add (local.get $c3) (f64x2.mul (local.get $v) (local.get $q3))))
                (local.set $w (i32.add (local.get $w) (local.get $rowO)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $iloop)))
            (if (local.get $leaky)
              (then
                (local.set $a0 (v128.bitselect (local.get $a0) (f64x2.mul (local.get $a0) (local.get $sl)) (f64x2.gt (local.get $a0) (local.get $zero))))
                (local.set $a1 (v128.bitselect (local.get $a1) (f64x2.mul (local.get $a1) (local.get $sl)) (f64x2.gt (local.get $a1) (local.get $zero))))
                (local.set $a2 (v128.bitselect (local.get $a2) (f64x2.mul (local.get $a2) (local.get $sl)) (f64x2.gt (local.get $a2) (local.get $zero))))
                (local.set $a3 (v128.bitselect (local.get $a3) (f64x2.mul (local.get $a3) (local.get $sl)) (f64x2.gt (local.get $a3) (local.get $zero))))
                (local.set $c0 (v128.bitselect (local.get $c0) (f64x2.mul (local.get $c0) (local.get $sl)) (f64x2.gt (local.get $c0) (local.get $zero))))
                (local.set $c1 (v128.bitselect (local.get $c1) (f64x2.mul (local.get $c1) (local.get $sl)) (f64x2.gt (local.get $c1) (local.get $zero))))
                (local.set $c2 (v128.bitselect (local.get $c2) (f64x2.mul (local.get $c2) (local.get $sl)) (f64x2.gt (local.get $c2) (local.get $zero))))
                (local.set $c3 (v128.bitselect (local.get $c3) (f64x2.mul (local.get $c3) (local.get $sl)) (f64x2.gt (local.get $c3) (local.get $zero))))))
            (local.set $w (i32.add (local.get $oa) (i32.shl (local.get $o) (i32.const 3))))
            (v128.store (local.get $w) (local.get $a0))
            (v128.store offset=16 (local.get $w) (local.get $a1))
            (v128.store offset=32 (local.get $w) (local.get $a2))
            (v128.store offset=48 (local.get $w) (local.get $a3))
            (local.set $w (i32.add (local.get $ob) (i32.shl (local.get $o) (i32.const 3))))
            (v128.store (local.get $w) (local.get $c0))
            (v128.store offset=16 (local.get $w) (local.get $c1))
            (v128.store offset=32 (local.get $w) (local.get $c2))
            (v128.store offset=48 (local.get $w) (local.get $c3))
            (local.set $o (i32.add (local.get $o) (i32.const 8)))
            (br $o8loop)))
        ;; remaining outputs, two at a time
        (block $o2done
          (loop $o2loop
            (br_if $o2done (i32.ge_s (local.get $o) (local.get $O)))
            (local.set $a0 (v128.load (i32.add (local.get $bias) (i32.shl (local.get $o) (i32.const 3)))))
            (local.set $c0 (local.get $a0))
            (local.set $w (i32.add (local.get $wt) (i32.shl (local.get $o) (i32.const 3))))
            (local.set $i (i32.const 0))
            (block $idone2
              (loop $iloop2
                (br_if $idone2 (i32.ge_s (local.get $i) (local.get $I)))
                (local.set $q0 (v128.load (local.get $w)))
                (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (v128.load64_splat (i32.add (local.get $xa) (i32.shl (local.get $i) (i32.const 3)))) (local.get $q0))))
                (local.set $c0 (f64x2.add (local.get $c0) (f64x2.mul (v128.load64_splat (i32.add (local.get $xb) (i32.shl (local.get $i) (i32.const 3)))) (local.get $q0))))
                (local.set $w (i32.add (local.get $w) (local.get $rowO)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $iloop2)))
            (if (local.get $leaky)
              (then
                (local.set $a0 (v128.bitselect (local.get $a0) (f64x2.mul (local.get $a0) (local.get $sl)) (f64x2.gt (local.get $a0) (local.get $zero))))
                (local.set $c0 (v128.bitselect (local.get $c0) (f64x2.mul (local.get $c0) (local.get $sl)) (f64x2.gt (local.get $c0) (local.get $zero))))))
            (v128.store (i32.add (local.get $oa) (i32.shl (local.get $o) (i32.const 3))) (local.get $a0))
            (v128.store (i32.add (local.get $ob) (i32.shl (local.get $o) (i32.const 3))) (local.get $c0))
            (local.set $o (i32.add (local.get $o) (i32.const 2)))
            (br $o2loop)))
        (local.set $b (i32.add (local.get $b) (i32.const 2)))
        (br $bloop))))

  ;; dx[b, i] = sum over blocks of 4 outputs of (dz0*w0 + dz1*w1 + dz2*w2 + dz3*w3), then the remaining
  ;; outputs one at a time; W is [O, I] (the parameter layout); I even. Two rows and four inputs at a time.
  ;; Then, per element and in this order: with $flags bit 0, add $extra[b, i]; with bit 1, multiply by $slope
  ;; where $h[b, i] > 0 is false (the leaky ReLU backward of the layer below, h its post-activation).
  (func (export "inputGrad")
    (param $dz i32) (param $wm i32) (param $dx i32) (param $B i32) (param $I i32) (param $O i32)
    (param $h i32) (param $extra i32) (param $flags i32) (param $slope f64)
    (local $sl v128)
    (local $b i32) (local $o i32) (local $i i32)
    (local $za i32) (local $zb i32) (local $xa i32) (local $xb i32) (local $w i32)
    (local $rowI i32) (local $rowO i32) (local $O4 i32)
    (local $d0 v128) (local $d1 v128) (local $d2 v128) (local $d3 v128)
    (local $e0 v128) (local $e1 v128) (local $e2 v128) (local $e3 v128)
    (local $a0 v128) (local $a1 v128) (local $c0 v128) (local $c1 v128)
    (local $q0 v128) (local $q1 v128) (local $q2 v128) (local $q3 v128)
    (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128)
    (local.set $sl (f64x2.splat (local.get $slope)))
    (local.set $rowI (i32.shl (local.get $I) (i32.const 3)))
    (local.set $rowO (i32.shl (local.get $O) (i32.const 3)))
    (local.set $O4 (i32.sub (local.get $O) (i32.rem_s (local.get $O) (i32.const 4))))
    (local.set $b (i32.const 0))
    (block $bdone
      (loop $bloop
        (br_if $bdone (i32.ge_s (local.get $b) (local.get $B)))
        (local.set $za (i32.add (local.get $dz) (i32.mul (local.get $b) (local.get $rowO))))
        (local.set $xa (i32.add (local.get $dx) (i32.mul (local.get $b) (local.get $rowI))))
        (if (i32.lt_s (i32.add (local.get $b) (i32.const 1)) (local.get $B))
          (then
            (local.set $zb (i32.add (local.get $za) (local.get $rowO)))
            (local.set $xb (i32.add (local.get $xa) (local.get $rowI))))
          (else
            (local.set $zb (local.get $za))
            (local.set $xb (local.get $xa))))
        (local.set $i (i32.const 0))
        (block $idone
          (loop $iloop
            (br_if $idone (i32.ge_s (local.get $i) (local.get $I)))
            ;; $a0/$c0: inputs i, i+1 of rows a/b; $a1/$c1: inputs i+2, i+3 (unused past I)
            (local.set $a0 (f64x2.splat (f64.const 0)))
            (local.set $a1 (f64x2.splat (f64.const 0)))
            (local.set $c0 (f64x2.splat (f64.const 0)))
            (local.set $c1 (f64x2.splat (f64.const 0)))
            (local.set $o (i32.const 0))
            (block $odone
              (loop $oloop
                (br_if $odone (i32.ge_s (local.get $o) (local.get $O4)))
                (local.set $w (i32.add (local.get $za) (i32.shl (local.get $o) (i32.const 3))))
                (local.set $d0 (v128.load64_splat (local.get $w)))
                (local.set $d1 (v128.load64_splat offset=8 (local.get $w)))
                (local.set $d2 (v128.load64_splat offset=16 (local.get $w)))
                (local.set $d3 (v128.load64_splat offset=24 (local.get $w)))
                (local.set $w (i32.add (local.get $zb) (i32.shl (local.get $o) (i32.const 3))))
                (local.set $e0 (v128.load64_splat (local.get $w)))
                (local.set $e1 (v128.load64_splat offset=8 (local.get $w)))
                (local.set $e2 (v128.load64_splat offset=16 (local.get $w)))
                (local.set $e3 (v128.load64_splat offset=24 (local.get $w)))
                ;; W[o + k, i .. i + 2]
                (local.set $w (i32.add (local.get $wm) (i32.shl (i32.add (i32.mul (local.get $o) (local.get $I)) (local.get $i)) (i32.const 3))))
                (local.set $q0 (v128.load (local.get $w)))
                (local.set $q1 (v128.load (i32.add (local.get $w) (local.get $rowI))))
                (local.set $q2 (v128.load (i32.add (local.get $w) (i32.shl (local.get $rowI) (i32.const 1)))))
                (local.set $q3 (v128.load (i32.add (local.get $w) (i32.mul (local.get $rowI) (i32.const 3)))))
                (local.set $a0 (f64x2.add (local.get $a0)
                  (f64x2.add (f64x2.add (f64x2.add (f64x2.mul (local.get $d0) (local.get $q0)) (f64x2.mul (local.get $d1) (local.get $q1))) (f64x2.mul (local.get $d2) (local.get $q2))) (f64x2.mul (local.get $d3) (local.get $q3)))))
                (local.set $c0 (f64x2.add (local.get $c0)
                  (f64x2.add (f64x2.add (f64x2.add (f64x2.mul (local.get $e0) (local.get $q0)) (f64x2.mul (local.get $e1) (local.get $q1))) (f64x2.mul (local.get $e2) (local.get $q2))) (f64x2.mul (local.get $e3) (local.get $q3)))))
                (if (i32.lt_s (i32.add (local.get $i) (i32.const 2)) (local.get $I))
                  (then
                    (local.set $r0 (v128.load offset=16 (local.get $w)))
                    (local.set $r1 (v128.load offset=16 (i32.add (local.get $w) (local.get $rowI))))
                    (local.set $r2 (v128.load offset=16 (i32.add (local.get $w) (i32.shl (local.get $rowI) (i32.const 1)))))
                    (local.set $r3 (v128.load offset=16 (i32.add (local.get $w) (i32.mul (local.get $rowI) (i32.const 3)))))
                    (local.set $a1 (f64x2.add (local.get $a1)
                      (f64x2.add (f64x2.add (f64x2.add (f64x2.mul (local.get $d0) (local.get $r0)) (f64x2.mul (local.get $d1) (local.get $r1))) (f64x2.mul (local.get $d2) (local.get $r2))) (f64x2.mul (local.get $d3) (local.get $r3)))))
                    (local.set $c1 (f64x2.add (local.get $c1)
                      (f64x2.add (f64x2.add (f64x2.add (f64x2.mul (local.get $e0) (local.get $r0)) (f64x2.mul (local.get $e1) (local.get $r1))) (f64x2.mul (local.get $e2) (local.get $r2))) (f64x2.mul (local.get $e3) (local.get $r3)))))))
                (local.set $o (i32.add (local.get $o) (i32.const 4)))
                (br $oloop)))
            ;; remaining outputs one at a time
            (block $otdone
              (loop $otloop
                (br_if $otdone (i32.ge_s (local.get $o) (local.get $O)))
                (local.set $d0 (v128.load64_splat (i32.add (local.get $za) (i32.shl (local.get $o) (i32.const 3)))))
                (local.set $e0 (v128.load64_splat (i32.add (local.get $zb) (i32.shl (local.get $o) (i32.const 3)))))
                (local.set $w (i32.add (local.get $wm) (i32.shl (i32.add (i32.mul (local.get $o) (local.get $I)) (local.get $i)) (i32.const 3))))
                (local.set $q0 (v128.load (local.get $w)))
                (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (local.get $d0) (local.get $q0))))
                (local.set $c0 (f64x2.add (local.get $c0) (f64x2.mul (local.get $e0) (local.get $q0))))
                (if (i32.lt_s (i32.add (local.get $i) (i32.const 2)) (local.get $I))
                  (then
                    (local.set $r0 (v128.load offset=16 (local.get $w)))
                    (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul (local.get $d0) (local.get $r0))))
                    (local.set $c1 (f64x2.add (local.get $c1) (f64x2.mul (local.get $e0) (local.get $r0))))))
                (local.set $o (i32.add (local.get $o) (i32.const 1)))
                (br $otloop)))
            ;; row b is stored last so that an odd last row (paired with itself) ends with its own values
            (local.set $w (i32.add (i32.sub (local.get $xb) (local.get $dx)) (i32.shl (local.get $i) (i32.const 3))))
            (v128.store (i32.add (local.get $dx) (local.get $w))
              (call $post (local.get $c0) (local.get $w) (local.get $h) (local.get $extra) (local.get $flags) (local.get $sl)))
            (if (i32.lt_s (i32.add (local.get $i) (i32.const 2)) (local.get $I))
              (then
                (v128.store (i32.add (local.get $dx) (i32.add (local.get $w) (i32.const 16)))
                  (call $post (local.get $c1) (i32.add (local.get $w) (i32.const 16)) (local.get $h) (local.get $extra) (local.get $flags) (local.get $sl)))))
            (local.set $w (i32.add (i32.sub (local.get $xa) (local.get $dx)) (i32.shl (local.get $i) (i32.const 3))))
            (v128.store (i32.add (local.get $dx) (local.get $w))
              (call $post (local.get $a0) (local.get $w) (local.get $h) (local.get $extra) (local.get $flags) (local.get $sl)))
            (if (i32.lt_s (i32.add (local.get $i) (i32.const 2)) (local.get $I))
              (then
                (v128.store (i32.add (local.get $dx) (i32.add (local.get $w) (i32.const 16)))
                  (call $post (local.get $a1) (i32.add (local.get $w) (i32.const 16)) (local.get $h) (local.get $extra) (local.get $flags) (local.get $sl)))))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $iloop)))
        (local.set $b (i32.add (local.get $b) (i32.const 2)))
        (br $bloop))))

;; v (+ extra[at]) (then x slope where h[at] > 0 is false), as selected by flags; `at` a byte offset.
  (func $post (param $v v128) (param $at i32) (param $h i32) (param $extra i32) (param $flags i32) (param $sl v128) (result v128)
    (local $hv v128)
    (if (i32.and (local.get $flags) (i32.const 1))
      (then (local.set $v (f64x2.add (local.get $v) (v128.load (i32.add (local.get $extra) (local.get $at)))))))
    (if (i32.and (local.get $flags) (i32.const 2))
      (then
        (local.set $hv (v128.load (i32.add (local.get $h) (local.get $at))))
        (local.set $v (v128.bitselect (local.get $v) (f64x2.mul (local.get $v) (local.get $sl))
          (f64x2.gt (local.get $hv) (f64x2.splat (f64.const 0)))))))
    (local.get $v))

  ;; dst[j, i] = src[i, j] for a [rows, cols] matrix src.
  (func (export "transpose") (param $src i32) (param $dst i32) (param $rows i32) (param $cols i32)
    (local $i i32) (local $j i32) (local $s i32)
    (local.set $s (local.get $src))
    (local.set $i (i32.const 0))
    (block $idone
      (loop $iloop
        (br_if $idone (i32.ge_s (local.get $i) (local.get $rows)))
        (local.set $j (i32.const 0))
        (block $jdone
          (loop $jloop
            (br_if $jdone (i32.ge_s (local.get $j) (local.get $cols)))
            (f64.store
              (i32.add (local.get $dst) (i32.shl (i32.add (i32.mul (local.get $j) (local.get $rows)) (local.get $i)) (i32.const 3)))
              (f64.load (local.get $s)))
            (local.set $s (i32.add (local.get $s) (i32.const 8)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $jloop)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $iloop))))

;; gb[o] += sum_b dz[b, o], rows added in order b = 0, 1, ...; O even (two outputs per lane pair).
  (func (export "biasGrad") (param $dz i32) (param $gb i32) (param $B i32) (param $O i32)
    (local $b i32) (local $o i32) (local $row i32) (local $rowO i32)
    (local.set $rowO (i32.shl (local.get $O) (i32.const 3)))
    (local.set $row (local.get $dz))
    (local.set $b (i32.const 0))
    (block $bdone
      (loop $bloop
        (br_if $bdone (i32.ge_s (local.get $b) (local.get $B)))
        (local.set $o (i32.const 0))
        (block $odone
          (loop $oloop
            (br_if $odone (i32.ge_s (local.get $o) (local.get $rowO)))
            (v128.store (i32.add (local.get $gb) (local.get $o))
              (f64x2.add (v128.load (i32.add (local.get $gb) (local.get $o)))
                         (v128.load (i32.add (local.get $row) (local.get $o)))))
            (local.set $o (i32.add (local.get $o) (i32.const 16)))
            (br $oloop)))
        (local.set $row (i32.add (local.get $row) (local.get $rowO)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $bloop))))

  ;; g[o, i] += sum_b dz[b, o] * x[b, i] for W's gradient ([O, I] at $g), rows added in order b = 0, 1, ...;
  ;; I even. Four outputs and two inputs at a time, over chunks of 32 rows.
  (func (export "paramGrad")
    (param $dz i32) (param $x i32) (param $g i32) (param $B i32) (param $I i32) (param $O i32)
    (local $b0 i32) (local $b1 i32) (local $b i32) (local $o i32) (local $i i32)
    (local $rowI i32) (local $rowO i32) (local $O4 i32) (local $w i32) (local $zp i32) (local $xp i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $u v128)
    (local.set $rowI (i32.shl (local.get $I) (i32.const 3)))
    (local.set $rowO (i32.shl (local.get $O) (i32.const 3)))
    (local.set $O4 (i32.sub (local.get $O) (i32.rem_s (local.get $O) (i32.const 4))))
    (local.set $b0 (i32.const 0))
    (block $cdone
      (loop $cloop
        (br_if $cdone (i32.ge_s (local.get $b0) (local.get $B)))
        (local.set $b1 (i32.add (local.get $b0) (i32.const 32)))
        (if (i32.gt_s (local.get $b1) (local.get $B)) (then (local.set $b1 (local.get $B))))
        (local.set $o (i32.const 0))
        (block $odone
          (loop $oloop
            (br_if $odone (i32.ge_s (local.get $o) (local.get $O4)))
            (local.set $i (i32.const 0))
            (block $idone
              (loop $iloop
                (br_if $idone (i32.ge_s (local.get $i) (local.get $I)))
                (local.set $w (i32.add (local.get $g) (i32.shl (i32.add (i32.mul (local.get $o) (local.get $I)) (local.get $i)) (i32.const 3))))
                (local.set $a0 (v128.load (local.get $w)))
                (local.set $a1 (v128.load (i32.add (local.get $w) (local.get $rowI))))
                (local.set $a2 (v128.load (i32.add (local.get $w) (i32.shl (local.get $rowI) (i32.const 1)))))
                (local.set $a3 (v128.load (i32.add (local.get $w) (i32.mul (local.get $rowI) (i32.const 3)))))
                (local.set $zp (i32.add (local.get $dz) (i32.shl (i32.add (i32.mul (local.get $b0) (local.get $O)) (local.get $o)) (i32.const 3))))
                (local.set $xp (i32.add (local.get $x) (i32.shl (i32.add (i32.mul (local.get $b0) (local.get $I)) (local.get $i)) (i32.const 3))))
                (local.set $b (local.get $b0))
                (block $bdone
                  (loop $bloop
                    (br_if $bdone (i32.ge_s (local.get $b) (local.get $b1)))
                    (local.set $u (v128.load (local.get $xp)))
                    (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (v128.load64_splat (local.get $zp)) (local.get $u))))
                    (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul (v128.load64_splat offset=8 (local.get $zp)) (local.get $u))))
                    (local.set $a2 (f64x2.add (local.get $a2) (f64x2.mul (v128.load64_splat offset=16 (local.get $zp)) (local.get $u))))
                    (local.set $a3 (f64x2.add (local.get $a3) (f64x2.mul (v128.load64_splat offset=24 (local.get $zp)) (local.get $u))))
                    (local.set $zp (i32.add (local.get $zp) (local.get $rowO)))
                    (local.set $xp (i32.add (local.get $xp) (local.get $rowI)))
                    (local.set $b (i32.add (local.get $b) (i32.const 1)))
                    (br $bloop)))
                (v128.store (local.get $w) (local.get $a0))
                (v128.store (i32.add (local.get $w) (local.get $rowI)) (local.get $a1))
                (v128.store (i32.add (local.get $w) (i32.shl (local.get $rowI) (i32.const 1))) (local.get $a2))
                (v128.store (i32.add (local.get $w) (i32.mul (local.get $rowI) (i32.const 3))) (local.get $a3))
                (local.set $i (i32.add (local.get $i) (i32.const 2)))
                (br $iloop)))
            (local.set $o (i32.add (local.get $o) (i32.const 4)))
            (br $oloop)))
        ;; remaining outputs one at a time
        (block $otdone
          (loop $otloop
            (br_if $otdone (i32.ge_s (local.get $o) (local.get $O)))
            (local.set $i (i32.const 0))
            (block $itdone
              (loop $itloop
                (br_if $itdone (i32.ge_s (local.get $i) (local.get $I)))
                (local.set $w (i32.add (local.get $g) (i32.shl (i32.add (i32.mul (local.get $o) (local.get $I)) (local.get $i)) (i32.const 3))))
                (local.set $a0 (v128.load (local.get $w)))
                (local.set $zp (i32.add (local.get $dz) (i32.shl (i32.add (i32.mul (local.get $b0) (local.get $O)) (local.get $o)) (i32.const 3))))
                (local.set $xp (i32.add (local.get $x) (i32.shl (i32.add (i32.mul (local.get $b0) (local.get $I)) (local.get $i)) (i32.const 3))))
                (local.set $b (local.get $b0))
                (block $btdone
                  (loop $btloop
                    (br_if $btdone (i32.ge_s (local.get $b) (local.get $b1)))
                    (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (v128.load64_splat (local.get $zp)) (v128.load (local.get $xp)))))
                    (local.set $zp (i32.add (local.get $zp) (local.get $rowO)))
                    (local.set $xp (i32.add (local.get $xp) (local.get $rowI)))
                    (local.set $b (i32.add (local.get $b) (i32.const 1)))
                    (br $btloop)))
                (v128.store (local.get $w) (local.get $a0))
                (local.set $i (i32.add (local.get $i) (i32.const 2)))
                (br $itloop)))
            (local.set $o (i32.add (local.get $o) (i32.const 1)))
            (br $otloop)))
        (local.set $b0 (local.get $b1))
        (br $cloop))))
)
