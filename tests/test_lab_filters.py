"""The chapter-1 lab experiments (fovea.lab.filters) in quick mode: each asserts the direction
its claim predicts, the notes' slips are found with the correct values, and the results are
the same for the same seed (apart from wall-clock timings)."""

from __future__ import annotations

import pytest

from fovea.lab import EXPERIMENTS, VERDICTS, Context, Result
from fovea.lab import filters as lab_filters

NAMES = [name for name, e in EXPERIMENTS.items() if e.run.__module__ == lab_filters.__name__]
TIMING_PREFIXES = ("ms_", "speedup_", "log_log_slope", "separable_method_overhead")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab_filters")
    return {name: EXPERIMENTS[name].run(Context(seed=0, quick=True, figure_dir=out))
            for name in NAMES}, out


def test_every_experiment_records_a_verdict_and_its_figures(results):
    records, out = results
    assert {"mean_filter", "convolution_example", "impulse_filter", "shift_filter",
            "third_blur", "sharpening", "linearity", "separable_speed",
            "box_vs_gaussian", "step_edge_derivatives", "gradient_magnitude_orientation",
            "canny_real_image"} <= set(records)
    for name, r in records.items():
        assert isinstance(r, Result) and r.name == name
        assert r.section.startswith("1.1") and r.claim and r.method
        assert r.verdict.startswith(VERDICTS)
        assert r.figures and all((out / f).is_file() for f in r.figures)
        assert Result.from_json(r.to_json()) == r


def test_mean_filter_gives_the_notes_5(results):
    n = results[0]["mean_filter"].numbers
    assert n["mean_3x3_with_centre"] == pytest.approx(5.0)
    assert n["mean_of_8_neighbours"] == pytest.approx(4.5)


def test_convolution_example_and_the_table_slip(results):
    r = results[0]["convolution_example"]
    n = r.numbers
    assert n["convolution_at_centre"] == pytest.approx(18.0)
    assert n["correlation_at_centre"] == pytest.approx(-18.0)
    assert n["correlation_with_flipped_kernel"] == pytest.approx(n["convolution_at_centre"])
    assert n["notes_products_match"] == 1
    assert n["flip_relation_max_abs_diff_digit"] < 1e-6
    assert n["table_cells_wrong"] == 1
    assert (n["table_printed"], n["table_correct"]) == ("[0, -1]", "[1, -1]")
    assert r.verdict.startswith("the notes slip")


def test_impulse_leaves_the_image_unchanged(results):
    n = results[0]["impulse_filter"].numbers
    assert n["max_abs_change_9_taps"] == 0.0 and n["max_abs_change_notes_7_taps"] == 0.0


def test_the_nine_tap_shift_moves_four_pixels_not_three(results):
    r = results[0]["shift_filter"]
    n = r.numbers
    # the 1 is 4 taps left of the centre: convolving reads 4 pixels to the right
    assert n["tap_offset_from_centre"] == -4
    assert n["measured_shift_convolve_px"] == -4 and n["measured_shift_correlate_px"] == 4
    assert (n["spike_at_10_convolve_peak"], n["spike_at_10_correlate_peak"]) == (6, 14)
    assert r.verdict.startswith("the notes slip")


def test_third_blur_spreads_and_smooths(results):
    n = results[0]["third_blur"].numbers
    assert n["impulse_response_taps_nonzero"] == 3
    assert n["impulse_response_value"] == pytest.approx(0.33)
    assert n["flat_image_gain"] == pytest.approx(0.99)
    assert n["row_total_variation_after"] < n["row_total_variation_before"]


def test_sharpening_keeps_flat_regions_and_amplifies_edges(results):
    n = results[0]["sharpening"].numbers
    assert n["flat_pixels"] > 100 and n["flat_max_abs_change"] < 1e-12
    assert n["edge_jump_gain_median"] > 1.2
    assert n["overshoot_above_1"] > 0 and n["undershoot_below_0"] > 0


def test_linearity_residuals_are_rounding(results):
    n = results[0]["linearity"].numbers
    assert n["worst_linear_residual"] < 1e-5  # float32 rounding
    assert n["gradient_magnitude_largest_residual"] > 0.1  # the non-linear control fails


def test_separable_is_faster_and_gains_with_k(results):
    n = results[0]["separable_speed"].numbers
    assert n["max_abs_diff_between_methods"] < 1e-4
    assert n["speedup_k25"] > 1 and n["speedup_k65"] > 1
    assert n["speedup_k65"] > n["speedup_k9"]  # the advantage grows with k
    assert n["predicted_k9"] == 4.5


def test_box_rings_and_the_gaussian_does_not(results):
    n = results[0]["box_vs_gaussian"].numbers
    assert n["box_min_response"] < -0.1 and n["grating_gain_box"] < 0
    assert n["gaussian_min_response"] > -1e-3 and n["grating_gain_gaussian"] > 0
    assert n["gaussian_monotone_within_1e-4"] == 1


def test_same_seed_same_numbers(results, tmp_path):
    records, _ = results
    for name in NAMES:
        again = EXPERIMENTS[name].run(Context(seed=0, quick=True, figure_dir=tmp_path))
        strip = {k: v for k, v in again.numbers.items() if not k.startswith(TIMING_PREFIXES)}
        first = {k: v for k, v in records[name].numbers.items()
                 if not k.startswith(TIMING_PREFIXES)}
        assert strip == first, name


def test_step_edge_derivatives_are_the_notes_255(results):
    n = results[0]["step_edge_derivatives"].numbers
    assert n["forward_nonzero_columns"] == "7 15"
    assert (n["forward_at_rise"], n["forward_at_fall"]) == (255.0, -255.0)
    assert n["central_peak"] == 127.5 and n["central_pixels_per_edge"] == 2
    # the second derivative's sign order tells dark→bright from bright→dark
    assert (n["second_dark_side_of_rise"], n["second_bright_side_of_rise"]) == (255.0, -255.0)
    assert (n["second_bright_side_of_fall"], n["second_dark_side_of_fall"]) == (-255.0, 255.0)
    assert n["zero_crossings_after_columns"] == "7 15"


def test_gradient_lives_on_the_contour_and_points_uphill(results):
    n = results[0]["gradient_magnitude_orientation"].numbers
    assert n["gradient_share_within_2px_of_contour"] > 2 * n["contour_band_area_share"]
    assert n["strong_pixels_pointing_uphill"] > 0.95
    assert n["disk_rim_orientation_error_mean_deg"] < 10
    assert abs(n["disk_magnitude_peak_radius"] - n["disk_radius"]) < 1.5


def test_canny_outlines_the_digits(results):
    n = results[0]["canny_real_image"].numbers
    assert n["edge_precision_within_2px"] > 0.9 and n["contour_recall_within_2px"] > 0.9
    assert n["edge_mean_8_neighbours"] < 4 and n["thinning_factor"] > 2
