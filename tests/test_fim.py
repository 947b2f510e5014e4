"""Fill-in-the-middle: the share transformed, the cut, both orders, and the Tokenize stage."""
import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that
from tokenizers import Tokenizer

from pipeline.recipe import RecipeError, parse_recipe
from pipeline.rules.epochs import StreamLayout
from pipeline.rules.fim import FimSpec, fim_cut, fim_ids
from tokenizer.bpe import EOS, FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, train_bpe

CODE = "def add(a, b):\n    '''Sum.'''\n    return a + b\n\n\nclass Point:\n    x: int = 0\n    y: int = 0\n"


def test_rate_and_order_shares_and_cuts_rebuild_the_text():
    spec = FimSpec(rate=0.5, spm_rate=0.25)
    cuts = [fim_cut(3, f"stack/f@{i}", CODE, spec) for i in range(4000)]
    done = [c for c in cuts if c is not None]
    assert abs(len(done) / 4000 - 0.5) < 0.03
    assert abs(sum(c.mode == "spm" for c in done) / len(done) - 0.25) < 0.03
    assert all(c.prefix + c.middle + c.suffix == CODE for c in done)
    assert len({(len(c.prefix), len(c.middle)) for c in done}) > 500, "cut points vary by document"
    assert fim_cut(3, "stack/f@1", CODE, spec) == cuts[1], "a hash of seed and id: the same every pass"
    assert all(fim_cut(3, f"x{i}", CODE, FimSpec()) is None for i in range(100)), "off by default"


def test_psm_and_spm_orders():
    encode = lambda s: [ord(ch) for ch in s]   # noqa: E731
    cut = fim_cut(0, "a", CODE, FimSpec(rate=1.0))._replace(prefix="ab", middle="c", suffix="de")
    assert fim_ids(cut._replace(mode="psm"), encode, 1, 2, 3) == [1, 97, 98, 3, 100, 101, 2, 99]
    assert fim_ids(cut._replace(mode="spm"), encode, 1, 2, 3) == [1, 3, 100, 101, 2, 97, 98, 99]


def test_recipe_checks_the_fim_settings():
    base = {"name": "t", "sources": [{"name": "s", "type": "jsonl", "paths": ["x.jsonl"], "kind": "code"}]}
    recipe = parse_recipe({**base, "tokenizer": {"fim": {"rate": 0.5, "spm_rate": 0.5}}})
    assert recipe.tokenizer.fim == FimSpec(0.5, 0.5)
    with pytest.raises(RecipeError, match="tokenizer.fim"):
        parse_recipe({**base, "tokenizer": {"fim": {"rate": 1.5}}})


def test_tokenize_stage_applies_fim_to_code_only(tmp_path):
    from pipeline.transforms.tokenize import Tokenize, save_tokenizer
    from sources.document import Document
    trained = train_bpe([CODE * 3, "Plain prose about points and sums. " * 20], vocab_size=600, min_frequency=1)
    info = save_tokenizer((trained, float("inf")), str(tmp_path))
    hf = Tokenizer.from_str(trained)
    docs = [Document(id=f"c/{i}", text=CODE, kind="code", source="c") for i in range(40)] + \
           [Document(id=f"t/{i}", text="Plain prose about points.", kind="text", source="t") for i in range(10)]

    def check(tokenized):
        by_id = {t.id: hf.decode(t.tokens.tolist(), skip_special_tokens=False) for t in tokenized}
        fim_docs = [i for i, text in by_id.items() if text.startswith(FIM_PREFIX)]
        assert all(i.startswith("c/") for i in fim_docs) and 5 < len(fim_docs) < 35
        for i in fim_docs:
            cut = fim_cut(7, i, CODE, FimSpec(rate=0.5, spm_rate=0.5))
            order = (cut.prefix, FIM_SUFFIX, cut.suffix, FIM_MIDDLE, cut.middle) if cut.mode == "psm" else \
                (FIM_SUFFIX, cut.suffix, FIM_MIDDLE, cut.prefix, cut.middle)
            assert by_id[i] == FIM_PREFIX + "".join(order) + EOS
        assert all(by_id[i] == CODE + EOS for i in by_id if i.startswith("c/") and i not in fim_docs)

    with BeamTestPipeline() as p:
        out = (p | "Docs" >> beam.Create(docs)
               | Tokenize(p | "Info" >> beam.Create([info]), StreamLayout(7, {"c": 4, "t": 2}),
                          fim=FimSpec(rate=0.5, spm_rate=0.5)))
        assert_that(out.docs | beam.combiners.ToList(), lambda lists: check(lists[0]))
