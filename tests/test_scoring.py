"""The scores the tests and benchmarks report: paired differences between two systems, words
left out."""

from __future__ import annotations

import statistics

from reflector_testkit.scoring import deleted_words, paired_difference, word_error_rate


def test_a_paired_difference_counts_the_runs_each_way_and_bounds_the_mean():
    summary = paired_difference([1.5, -0.5, 2.0, 0.0])

    assert summary["runs"] == 4
    assert summary["mean"] == 0.75
    assert (summary["above"], summary["below"], summary["equal"]) == (2, 1, 1)
    spread = statistics.stdev([1.5, -0.5, 2.0, 0.0])
    assert summary["interval_95"] == round(1.96 * spread / 2, 2)


def test_one_run_has_no_interval():
    assert paired_difference([3.0])["interval_95"] is None


def test_titles_count_as_the_words_references_spell_out():
    assert word_error_rate("mister john dashwood", "Mr. John Dashwood") == 0.0


def test_deleted_words_count_a_lost_turn_and_not_a_misheard_word():
    reference = "I agree with that. Hmm, I am not sure. Our analytics show a drop."
    misheard = "I agree with that. Hmm, I am not sure. Our analytic shows a drop."
    lost_turn = "I agree with that. Our analytics show a drop."
    assert deleted_words(reference, misheard) == 0
    assert deleted_words(reference, lost_turn) == 5
