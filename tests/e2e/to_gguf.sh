# to-gguf on dev-tiny against the hashes llama.cpp's own converter gives
# (tests/data/gguf-ref, made by tests/tools/gguf_ref.sh).
M=$TMP/gg-model
tiny_gguf_model "$M"

for t in bf16 f16 q8_0; do
    expect_rc "to-gguf --type $t runs" 0 "$DSCONV" to-gguf "$M" "$TMP/$t.gguf" --type $t --name Model --quiet --no-sync
    check "to-gguf $t from FP8 = convert_hf_to_gguf.py on the BF16 checkpoint, byte for byte" \
        [ "$(filehash "$TMP/$t.gguf")" = "$(refhash $t)" ]
    expect_rc "to-gguf --type $t --fp8-f32 runs" 0 "$DSCONV" to-gguf "$M" "$TMP/$t-x.gguf" --type $t --name Model --fp8-f32 --quiet --no-sync
    check "to-gguf $t --fp8-f32 = convert_hf_to_gguf.py on the FP8 checkpoint, byte for byte" \
        [ "$(filehash "$TMP/$t-x.gguf")" = "$(refhash $t-from-fp8)" ]
done
check "no temporary file left" bash -c "! ls -a '$TMP' | grep -q dsconv-tmp"

# A model card with a front matter: to-gguf writes the general.* keys the converter writes from
# it (DeepSeek-V3's card: general.license mit; more in tests/e2e/to_gguf_card.sh).
printf -- '---\nlicense: mit\nlibrary_name: transformers\n---\n# Model\n' >"$M/README.md"
expect_rc "to-gguf with a model card runs" 0 "$DSCONV" to-gguf "$M" "$TMP/card.gguf" --type q8_0 --name Model --quiet --no-sync
check "with DeepSeek-V3's model card: the converter's bytes" [ "$(filehash "$TMP/card.gguf")" = "$(refhash card-deepseek-v3-q8_0)" ]
check "a card read is not warned about" bash -c "! grep -q 'model card' '$TMP/err'"
printf '# Model\n' >"$M/README.md"
expect_rc "to-gguf with a README without front matter runs" 0 "$DSCONV" to-gguf "$M" "$TMP/card.gguf" --type q8_0 --name Model --quiet --no-sync --force
check "no model-card warning without a front matter" bash -c "! grep -q 'model card' '$TMP/err'"
rm -f "$M/README.md" "$TMP/card.gguf"

# The workers write at the planned offsets, through the mapped file or by pwrite, in whatever
# order the threads take the units: the bytes are the same.
for io in mmap pwrite; do
    for th in 1 3; do
        expect_rc "to-gguf q8_0 --io $io --threads $th runs" 0 "$DSCONV" to-gguf "$M" "$TMP/io.gguf" --type q8_0 --name Model \
            --io $io --threads $th --quiet --no-sync --force --json "$TMP/io.json"
        check "--io $io --threads $th: the converter's bytes" [ "$(filehash "$TMP/io.gguf")" = "$(refhash q8_0)" ]
    done
    check "--json says io $io" grep -q "\"io\":[[:space:]]*\"$io\"" "$TMP/io.json"
done
check "--json stages_seconds: setup, pipeline, read/transform/write busy" \
    bash -c "grep -q '\"stages_seconds\"' '$TMP/io.json' && grep -q '\"transform_busy\"' '$TMP/io.json' && grep -q '\"write_busy\"' '$TMP/io.json'"
for wr in 0 2; do
    expect_rc "to-gguf --writers $wr runs" 0 "$DSCONV" to-gguf "$M" "$TMP/io.gguf" --type bf16 --name Model --writers $wr --threads 3 --quiet --no-sync --force
    check "--writers $wr: the converter's bytes" [ "$(filehash "$TMP/io.gguf")" = "$(refhash bf16)" ]
done
expect_rc "to-gguf --reserve runs" 0 "$DSCONV" to-gguf "$M" "$TMP/io.gguf" --type q8_0 --name Model --reserve --quiet --no-sync --force --json "$TMP/io.json"
check "--reserve: the converter's bytes" [ "$(filehash "$TMP/io.gguf")" = "$(refhash q8_0)" ]
check "--json says reserve" grep -q '"reserve":[[:space:]]*true' "$TMP/io.json"
# A file size limit (EFBIG, as a full disk): exit 4 naming the file, nothing left behind.
for args in "--io pwrite" "--writers 2" "--io mmap"; do
    expect_rc "EFBIG ($args): exit 4" 4 bash -c 'trap "" XFSZ; ulimit -f 200; exec "$@"' _ \
        "$DSCONV" to-gguf "$M" "$TMP/big.gguf" --type bf16 $args --quiet --no-sync
    expect_err "EFBIG ($args): names the file" "big.gguf"
    check "EFBIG ($args): no output, no temporary" bash -c "[ ! -e '$TMP/big.gguf' ] && ! ls -a '$TMP' | grep -q dsconv-tmp"
done
expect_rc "--io bad is a usage error" 2 "$DSCONV" to-gguf "$M" "$TMP/u.gguf" --io direct

# A BF16 input gives the same file as its FP8 original.
expect_rc "fp8-to-bf16 for the BF16 input" 0 "$DSCONV" fp8-to-bf16 "$DATA/dev-tiny/input" "$TMP/gg-bf16" --quiet
cp "$DATA"/tok-tiny/tokenizer.json "$DATA"/tok-tiny/tokenizer_config.json "$TMP/gg-bf16/"
expect_rc "to-gguf q8_0 from BF16 runs" 0 "$DSCONV" to-gguf "$TMP/gg-bf16" "$TMP/b.gguf" --type q8_0 --name Model --quiet --no-sync
check "BF16 input: same bytes as the converter" [ "$(filehash "$TMP/b.gguf")" = "$(refhash q8_0)" ]

# --type-for: experts q8_0, the rest bf16; general.name from the directory name.
expect_rc "to-gguf --type-for runs" 0 "$DSCONV" to-gguf "$M" "$TMP/mix.gguf" --type-for 'blk.*_exps.weight=q8_0' --dry-run
check "--type-for: experts q8_0" grep -q 'blk.1.ffn_up_exps.weight *q8_0' "$TMP/out"
check "--type-for: others bf16" grep -q 'blk.1.attn_q_b.weight *bf16' "$TMP/out"
check "norms stay f32" grep -q 'blk.0.attn_norm.weight *f32' "$TMP/out"
check "router stays f32" grep -q 'blk.1.ffn_gate_inp.weight *f32' "$TMP/out"
check "kv_b split: attn_k_b [32 x 128 x 8]" grep -q 'blk.0.attn_k_b.weight *bf16 *\[32 x 128 x 8\]' "$TMP/out"
check "MTP layer left out" bash -c "! grep -q 'blk.2' '$TMP/out'"
check "--dry-run writes nothing" [ ! -e "$TMP/mix.gguf" ]

# Refusals.
mkdir -p "$TMP/gg-notok"
for f in "$DATA"/dev-tiny/input/*; do ln -sf "$f" "$TMP/gg-notok/"; done
# generation_config.json is read (general.sampling.*): a side file, copied (a link leaving the checkpoint is refused)
rm "$TMP/gg-notok/generation_config.json" && cp "$DATA/dev-tiny/input/generation_config.json" "$TMP/gg-notok/"
expect_rc "no tokenizer.json: exit 3" 3 "$DSCONV" to-gguf "$TMP/gg-notok" "$TMP/n.gguf"
expect_err "names the missing file" "tokenizer.json"
expect_err "suggests --no-vocab" "--no-vocab"
check "refused: no output" [ ! -e "$TMP/n.gguf" ]
expect_rc "--no-vocab writes without tokenizer" 0 "$DSCONV" to-gguf "$TMP/gg-notok" "$TMP/n.gguf" --no-vocab --quiet
check "--no-vocab: no tokenizer keys" bash -c "! grep -q tokenizer.ggml '$TMP/n.gguf'"
# deepseek_v32 is written (tests/e2e/to_gguf_v32.sh), but not a checkpoint without the indexer
for mt in deepseek_v32 llama; do
    mkdir -p "$TMP/gg-$mt"
    cp -P "$M"/* "$TMP/gg-$mt/"
    rm "$TMP/gg-$mt/config.json"
    sed "s/\"model_type\": \"deepseek_v3\"/\"model_type\": \"$mt\"/" "$DATA/dev-tiny/input/config.json" > "$TMP/gg-$mt/config.json"
    expect_rc "model_type $mt refused with exit 3" 3 "$DSCONV" to-gguf "$TMP/gg-$mt" "$TMP/$mt.gguf"
    expect_err "refusal names model_type $mt" "$mt"
done
mkdir -p "$TMP/gg-badtok"
cp -P "$M"/* "$TMP/gg-badtok/"
rm "$TMP/gg-badtok/tokenizer.json"
sed 's/"Isolated"/"Removed"/' "$DATA/tok-tiny/tokenizer.json" > "$TMP/gg-badtok/tokenizer.json"
expect_rc "unknown pre-tokenizer refused" 3 "$DSCONV" to-gguf "$TMP/gg-badtok" "$TMP/bt.gguf"
expect_err "refusal names pre_tokenizer" "pre_tokenizer"
expect_rc "--type q2_k is a usage error" 2 "$DSCONV" to-gguf "$M" "$TMP/u.gguf" --type q2_k
expect_rc "existing OUT without --force" 2 "$DSCONV" to-gguf "$M" "$TMP/bf16.gguf"

# dsconv-sample: q_proj instead of q_a/q_b (q_lora_rank null, as Moonlight), 16 heads.
expect_rc "dsconv-sample --q-lora 0" 0 "$SAMPLE" --out "$TMP/gg-sq" --q-lora 0 --seed 3 --quiet
rm -f "$TMP/gg-sq/tokenizer_config.json"
cp "$DATA"/tok-tiny/tokenizer.json "$DATA"/tok-tiny/tokenizer_config.json "$TMP/gg-sq/"
mkdir -p "$TMP/gg-sqm/Model" && cp -P "$TMP"/gg-sq/* "$TMP/gg-sqm/Model/"
expect_rc "to-gguf q_proj sample runs" 0 "$DSCONV" to-gguf "$TMP/gg-sqm/Model" "$TMP/sq.gguf" --type q8_0 --quiet --no-sync
check "q_proj sample = converter, byte for byte (general.name from the directory)" \
    [ "$(filehash "$TMP/sq.gguf")" = "$(refhash sample-qproj-q8_0)" ]
# model_type kimi_k2: config.json reaches the converter unnormalized.
mkdir -p "$TMP/gg-kimi"
cp -P "$M"/* "$TMP/gg-kimi/"
rm "$TMP/gg-kimi/config.json"
sed 's/"model_type": "deepseek_v3"/"model_type": "kimi_k2"/' "$DATA/dev-tiny/input/config.json" > "$TMP/gg-kimi/config.json"
expect_rc "to-gguf kimi_k2 --no-vocab runs" 0 "$DSCONV" to-gguf "$TMP/gg-kimi" "$TMP/kimi.gguf" --type q8_0 --no-vocab --name Model --quiet --no-sync
check "kimi_k2 = converter (no vocab), byte for byte" [ "$(filehash "$TMP/kimi.gguf")" = "$(refhash kimi_k2-novocab-q8_0)" ]

# The model schema's families (dsconv-sample --family): kimi (kimi_k2, no vocab), terminus
# (ue8m0 scales), moonlight (BF16, q_proj): each equals the converter's file.
for fam in kimi terminus moonlight; do
    "$SAMPLE" --family $fam --out "$TMP/fam-$fam/Model" --quiet
    nv=""
    if [ $fam = kimi ]; then nv=--no-vocab
    else rm -f "$TMP/fam-$fam/Model/tokenizer_config.json"; cp "$DATA"/tok-tiny/tokenizer.json "$DATA"/tok-tiny/tokenizer_config.json "$TMP/fam-$fam/Model/"; fi
    expect_rc "to-gguf family $fam runs" 0 "$DSCONV" to-gguf "$TMP/fam-$fam/Model" "$TMP/fam-$fam.gguf" --type q8_0 $nv --quiet --no-sync
    check "family $fam = converter, byte for byte" [ "$(filehash "$TMP/fam-$fam.gguf")" = "$(refhash family-$fam-q8_0)" ]
done
expect_rc "kimi-thinking (compressed-tensors INT4) refused" 3 "$DSCONV" to-gguf "$(mkdir -p "$TMP/kt" && "$SAMPLE" --family kimi-thinking --out "$TMP/kt/m" --quiet && echo "$TMP/kt/m")" "$TMP/kt.gguf" --no-vocab
expect_err "refusal names the quantization method" "compressed-tensors"
