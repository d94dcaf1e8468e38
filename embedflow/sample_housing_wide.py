"""A wide house-sales table shaped like the Ames housing data: many columns, few rows, and a price that
rewards a model for finding interactions.

About 2,930 sales and 84 columns: 43 text categories (neighbourhood, materials, quality grades) with rare
levels and "NA"/"None" meaning "no basement / no garage / no pool", 36 numbers: counts, areas and years
(skewed areas, many zeros, gaps where a house has no garage or the frontage was not measured), a row number
and an id-like parcel number (Order, PID), latitude/longitude in neighbourhood clusters, and the label
SalePrice.

log(SalePrice) is built so that one-hot linear models miss part of it, as on the real data:
quality is convex and multiplies the value of living area (quality x size), new houses carry a premium
that fades with age non-linearly, location adds a smooth surface with a few premium pockets that cut
across neighbourhoods, and a few partial or abnormal sales are priced off the pattern.  Same seed, same
bytes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from types import SimpleNamespace

import numpy as np
import pyarrow as pa

from embedflow.sample_checks import check_housing_sample
from embedflow.sample_csv import write_csv

log = logging.getLogger(__name__)

NEIGHBOURHOODS = ("NAmes", "CollgCr", "OldTown", "Edwards", "Somerst", "NridgHt", "Gilbert", "Sawyer", "NWAmes",
                  "SawyerW", "Mitchel", "BrkSide", "Crawfor", "IDOTRR", "Timber", "NoRidge", "StoneBr", "SWISU",
                  "ClearCr", "MeadowV", "BrDale", "Blmngtn", "Veenker", "NPkVill", "Blueste", "Greens", "GrnHill",
                  "Landmrk")
GRADES = ("Po", "Fa", "TA", "Gd", "Ex")


@dataclasses.dataclass(frozen=True)
class WideHousingSample:
    rows: int = 2_930
    seed: int = 7
    __post_init__ = check_housing_sample


def _pick(rng: np.random.Generator, levels: tuple[str, ...], weights: tuple[float, ...], n: int) -> np.ndarray:
    p = np.asarray(weights, float)
    return np.asarray(levels, dtype=object)[rng.choice(len(levels), size=n, p=p / p.sum())]


def _grade(score: np.ndarray, rng: np.random.Generator, noise: float = 0.7) -> np.ndarray:
    """A quality score (about 1..10) -> Po/Fa/TA/Gd/Ex, noisily, mostly TA and Gd as in real inspections."""
    z = score + rng.normal(0.0, noise, len(score))
    return np.asarray(GRADES, dtype=object)[np.digitize(z, [2.5, 4.5, 6.5, 8.3])]


def _text(values: np.ndarray) -> pa.Array:
    return pa.array([str(v) for v in values], pa.string())


def _optional_int(values: np.ndarray, missing: np.ndarray) -> pa.Array:
    return pa.array(np.round(values).astype(np.int64), mask=missing)


def write_wide_housing_sample(out_dir: str, cfg: WideHousingSample = WideHousingSample()) -> dict[str, str]:
    """Write housing_wide.csv (and the planted location pockets) to `out_dir`.

    The steps draw from one generator in a fixed order (where the houses are, what they are, what they sell
    for, then the remaining columns in the table's order), so the same seed writes the same bytes; `h` holds
    every array drawn so far, by name.
    """
    rng = np.random.default_rng(cfg.seed)
    os.makedirs(out_dir, exist_ok=True)
    n = cfg.rows
    h = SimpleNamespace(**_locations(rng, n))
    vars(h).update(_houses(rng, n, h))
    vars(h).update(_prices(rng, n, h))
    columns = _columns(rng, n, h)
    path = os.path.join(out_dir, "housing_wide.csv")
    write_csv(pa.table(columns), path)
    with open(os.path.join(out_dir, "planted_location_pockets.csv"), "w", encoding="utf-8") as f:
        f.write("longitude,latitude\n")
        f.writelines(f"{x:.4f},{y:.4f}\n" for x, y in h.pockets)
    log.info("Wrote %d wide housing rows (%d columns) to %s", n, len(columns), out_dir)
    return {"housing_wide": path}


def _locations(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Neighbourhoods and map positions, with the smooth location surface and its premium pockets."""
    k = len(NEIGHBOURHOODS)
    # Long-tailed sizes, a centre on the map, a price level, a typical age and quality.
    share = rng.dirichlet(np.full(k, 0.6)) * 0.7 + np.geomspace(1.0, 0.02, k) / np.geomspace(1.0, 0.02, k).sum() * 0.3
    hood = rng.choice(k, size=n, p=share / share.sum())
    centre = np.stack([rng.uniform(-93.69, -93.58, k), rng.uniform(41.98, 42.06, k)], axis=1)
    hood_level = rng.normal(0.0, 0.12, k)
    hood_year = rng.uniform(1915, 2005, k)
    hood_quality = np.clip(5.6 + 1.2 * (hood_year - 1960) / 45 + rng.normal(0, 0.6, k), 3.5, 8.5)
    lon = centre[hood, 0] + rng.normal(0, 0.006, n)
    lat = centre[hood, 1] + rng.normal(0, 0.005, n)
    pockets = np.stack([rng.uniform(-93.68, -93.59, 6), rng.uniform(41.99, 42.05, 6)], axis=1)
    pocket_d = np.sqrt(((lon[:, None] - pockets[None, :, 0]) * 1.35) ** 2 + (lat[:, None] - pockets[None, :, 1]) ** 2)
    location = (0.30 * np.exp(-(pocket_d.min(axis=1) / 0.007) ** 2)
                + 0.08 * np.sin((lon + 93.6) * 260) * np.cos((lat - 42.0) * 210))
    return {"hood": hood, "hood_level": hood_level, "hood_year": hood_year, "hood_quality": hood_quality, "lon": lon,
            "lat": lat, "pockets": pockets, "location": location}


def _houses(rng: np.random.Generator, n: int, h: SimpleNamespace) -> dict[str, np.ndarray]:
    """The house: age, quality, size, rooms, lot and extras."""
    year_built = np.clip(np.round(h.hood_year[h.hood] + rng.normal(0, 14, n)), 1872, 2010).astype(int)
    yr_sold = rng.integers(2006, 2011, n)
    year_built = np.minimum(year_built, yr_sold)
    quality = np.clip(np.round(h.hood_quality[h.hood] + 0.02 * (year_built - 1970) + rng.normal(0, 1.0, n)), 1, 10)
    condition = np.clip(np.round(5.5 + rng.normal(0, 1.0, n) + 0.01 * (1980 - year_built).clip(0)), 1, 9)
    remodelled = rng.random(n) < np.clip((yr_sold - year_built) / 60, 0, 0.7)
    year_remod = np.where(remodelled, rng.integers(1950, 2011, n).clip(year_built, yr_sold), year_built)
    two_storey = rng.random(n) < 0.3 + 0.03 * (quality - 5)
    first_flr = np.exp(rng.normal(6.95 + 0.06 * (quality - 6), 0.33, n)).round()
    second_flr = np.where(two_storey, first_flr * rng.uniform(0.55, 1.05, n), 0).round()
    low_qual = np.where(rng.random(n) < 0.015, rng.integers(50, 600, n), 0)
    living = first_flr + second_flr + low_qual
    has_bsmt = rng.random(n) > 0.027
    total_bsmt = np.where(has_bsmt, first_flr * rng.uniform(0.6, 1.1, n), 0).round()
    bsmt_fin1 = np.where(has_bsmt & (rng.random(n) < 0.7), total_bsmt * rng.uniform(0.2, 0.9, n), 0).round()
    bsmt_fin2 = np.where(bsmt_fin1 > 0, (total_bsmt - bsmt_fin1) * (rng.random(n) < 0.12) * rng.random(n), 0).round()
    bsmt_unf = total_bsmt - bsmt_fin1 - bsmt_fin2
    garage_cars = np.where(rng.random(n) < 0.055, 0,
                           np.clip(np.round(1.3 + 0.25 * (quality - 5) + rng.normal(0, 0.6, n)), 1, 5)).astype(int)
    has_garage = garage_cars > 0
    garage_area = np.where(has_garage, garage_cars * rng.normal(250, 40, n), 0).round()
    garage_year = np.where(rng.random(n) < 0.8, year_built, np.maximum(year_built, rng.integers(1950, 2011, n)))
    garage_year = np.minimum(garage_year, yr_sold)
    bedrooms = np.clip(np.round(living / 520 + rng.normal(0.4, 0.7, n)), 0, 8).astype(int)
    rooms = np.clip(bedrooms + 2 + np.round(living / 900 + rng.normal(0, 0.7, n)), 2, 15).astype(int)
    full_bath = np.clip(np.round(living / 1000 + rng.normal(0.5, 0.4, n)), 0, 4).astype(int)
    half_bath = (rng.random(n) < 0.2 + 0.3 * two_storey).astype(int)
    fireplaces = np.clip(np.round(rng.normal(-0.2 + 0.18 * (quality - 4), 0.6, n)), 0, 4).astype(int)
    lot_frontage = np.clip(rng.lognormal(np.log(68), 0.3, n), 21, 313)
    lot_area = np.clip(lot_frontage * rng.lognormal(np.log(135), 0.35, n), 1300, 215_000)
    huge_lot = rng.random(n) < 0.01
    lot_area[huge_lot] *= rng.uniform(3, 8, huge_lot.sum())
    veneer_type = _pick(rng, ("None", "BrkFace", "Stone", "BrkCmn", "CBlock"), (58, 30, 9, 2, 0.1), n)
    veneer_area = np.where(veneer_type == "None", 0, rng.lognormal(5.0 + 0.1 * (quality - 6), 0.6, n)).round()
    pool = rng.random(n) < 0.005
    deck = np.where(rng.random(n) < 0.48, rng.lognormal(5.2, 0.6, n), 0).round()
    porch = np.where(rng.random(n) < 0.55, rng.lognormal(3.9, 0.7, n), 0).round()
    misc = _pick(rng, ("NA", "Shed", "Gar2", "Othr", "TenC"), (96.4, 3.3, 0.2, 0.15, 0.05), n)
    sale_type = _pick(rng, ("WD", "New", "COD", "ConLD", "CWD", "ConLI", "ConLw", "Oth", "Con", "VWD"),
                      (86.5, 8.2, 3.0, 0.9, 0.4, 0.3, 0.3, 0.25, 0.15, 0.05), n)
    sale_condition = np.where(sale_type == "New", "Partial",
                              _pick(rng, ("Normal", "Abnorml", "Family", "Alloca", "AdjLand"), (90, 7, 1.8, 0.8, 0.4), n))
    return {"year_built": year_built, "yr_sold": yr_sold, "quality": quality, "condition": condition,
            "year_remod": year_remod, "two_storey": two_storey, "first_flr": first_flr, "second_flr": second_flr,
            "low_qual": low_qual, "living": living, "has_bsmt": has_bsmt, "total_bsmt": total_bsmt,
            "bsmt_fin1": bsmt_fin1, "bsmt_fin2": bsmt_fin2, "bsmt_unf": bsmt_unf, "garage_cars": garage_cars,
            "has_garage": has_garage, "garage_area": garage_area, "garage_year": garage_year, "bedrooms": bedrooms,
            "rooms": rooms, "full_bath": full_bath, "half_bath": half_bath, "fireplaces": fireplaces,
            "lot_frontage": lot_frontage, "lot_area": lot_area, "veneer_type": veneer_type,
            "veneer_area": veneer_area, "pool": pool, "deck": deck, "porch": porch, "misc": misc,
            "sale_type": sale_type, "sale_condition": sale_condition}


def _prices(rng: np.random.Generator, n: int, h: SimpleNamespace) -> dict[str, np.ndarray]:
    """The price: log-scale, with the structure a one-hot linear model misses (and the kitchen and air
    conditioning it depends on)."""
    age = h.yr_sold - h.year_built
    q = h.quality - 6
    log_price = (11.98 + 0.07 * q + 0.035 * q ** 2 * (q > 0)
                 + (0.40 + 0.10 * q) * np.log(h.living / 1500)             # quality x size
                 + 0.12 * np.log1p(h.total_bsmt) / np.log(1500) * (1 + 0.1 * q) - 0.12
                 + 0.16 * np.exp(-age / 6.0) - 0.0012 * np.minimum(age, 90)  # a fading premium for new houses
                 + 0.035 * (h.condition - 5) * (age > 20)
                 + 0.03 * np.minimum(h.garage_cars, 3) + 0.03 * np.minimum(h.fireplaces, 2)
                 + 0.08 * np.log(h.lot_area / 9500) + 0.05 * (h.year_remod > h.year_built) * (age > 25)
                 + h.hood_level[h.hood] + h.location
                 + np.where(h.sale_condition == "Abnorml", -0.10, 0) + np.where(h.sale_condition == "Partial", 0.04, 0)
                 + rng.standard_t(5, n) * 0.065)
    kitchen_grade = _grade(h.quality + 0.2 * (h.year_remod > 1990), rng)
    log_price += 0.04 * (kitchen_grade == "Ex") - 0.04 * (kitchen_grade == "Fa")
    central_air = np.where((h.year_built < 1950) & (rng.random(n) < 0.35), "N", "Y")
    log_price -= 0.08 * (central_air == "N")
    odd = rng.random(n) < 0.004  # a few sales far off the pattern (huge houses sold cheaply, as in Ames)
    log_price[odd] -= rng.uniform(0.4, 0.9, odd.sum())
    price = np.clip(np.exp(log_price), 12_789, 755_000).round().astype(np.int64)
    return {"kitchen_grade": kitchen_grade, "central_air": central_air, "price": price}


def _columns(rng: np.random.Generator, n: int, h: SimpleNamespace) -> dict[str, pa.Array]:
    """Every column of the table, in its order (the groups draw in that order too)."""
    style = np.where(h.two_storey, _pick(rng, ("2Story", "2.5Unf", "2.5Fin"), (95, 4, 1), n),
                     _pick(rng, ("1Story", "1.5Fin", "SFoyer", "SLvl", "1.5Unf"), (72, 14, 4, 8, 1), n))
    exterior = _pick(rng, ("VinylSd", "MetalSd", "HdBoard", "Wd Sdng", "Plywood", "CemntBd", "BrkFace", "WdShing",
                           "AsbShng", "Stucco", "BrkComm", "AsphShn", "Stone", "CBlock", "ImStucc", "PreCast"),
                     (35, 15, 15, 14, 7.5, 4.3, 3, 1.9, 1.5, 1.5, 0.2, 0.1, 0.1, 0.1, 0.05, 0.03), n)
    exterior2 = np.where(rng.random(n) < 0.85, exterior, _pick(rng, ("VinylSd", "Wd Shng", "HdBoard", "Plywood",
                                                                    "CmentBd", "Brk Cmn", "Other"),
                                                               (30, 20, 20, 15, 10, 4, 1), n))
    return {**_lot_columns(rng, n, h), **_building_columns(rng, n, h, style, exterior, exterior2),
            **_interior_columns(rng, n, h), **_garage_and_sale_columns(rng, n, h)}


def _lot_columns(rng: np.random.Generator, n: int, h: SimpleNamespace) -> dict[str, pa.Array]:
    """The lot, its place and the kind of building."""
    return {
        "Order": pa.array(np.arange(1, n + 1)),
        "PID": pa.array(np.sort(526_301_100 + rng.choice(480_799_010, n, replace=False))[rng.permutation(n)]),
        "MS_SubClass": pa.array(np.where(h.two_storey, rng.choice([60, 70, 75, 160, 190], n, p=[.8, .1, .02, .06, .02]),
                                         rng.choice([20, 30, 40, 45, 50, 80, 85, 90, 120, 150, 180], n,
                                                    p=[.56, .07, .005, .01, .14, .06, .025, .05, .07, .002, .008]))),
        "MS_Zoning": _text(_pick(rng, ("RL", "RM", "FV", "RH", "C (all)", "I (all)", "A (agr)"),
                                 (77.6, 15.8, 4.7, 0.9, 0.85, 0.07, 0.07), n)),
        "Lot_Frontage": _optional_int(h.lot_frontage, rng.random(n) < 0.167),
        "Lot_Area": pa.array(h.lot_area.round().astype(np.int64)),
        "Street": _text(_pick(rng, ("Pave", "Grvl"), (99.6, 0.4), n)),
        "Alley": _text(_pick(rng, ("NA", "Grvl", "Pave"), (93.2, 4.1, 2.7), n)),
        "Lot_Shape": _text(_pick(rng, ("Reg", "IR1", "IR2", "IR3"), (63.4, 33.4, 2.6, 0.6), n)),
        "Land_Contour": _text(_pick(rng, ("Lvl", "HLS", "Bnk", "Low"), (89.8, 4.1, 4.0, 2.1), n)),
        "Utilities": _text(_pick(rng, ("AllPub", "NoSewr", "NoSeWa"), (99.9, 0.07, 0.03), n)),
        "Lot_Config": _text(_pick(rng, ("Inside", "Corner", "CulDSac", "FR2", "FR3"), (73, 17.5, 6.1, 2.9, 0.5), n)),
        "Land_Slope": _text(_pick(rng, ("Gtl", "Mod", "Sev"), (95.2, 4.3, 0.5), n)),
        "Neighborhood": _text(np.asarray(NEIGHBOURHOODS, dtype=object)[h.hood]),
        "Condition_1": _text(_pick(rng, ("Norm", "Feedr", "Artery", "RRAn", "PosN", "RRAe", "PosA", "RRNn", "RRNe"),
                                   (86, 5.6, 3.1, 1.7, 1.3, 0.9, 0.7, 0.3, 0.2), n)),
        "Condition_2": _text(_pick(rng, ("Norm", "Feedr", "Artery", "PosA", "PosN", "RRNn", "RRAe", "RRAn"),
                                   (99, 0.45, 0.17, 0.14, 0.14, 0.07, 0.03, 0.03), n)),
        "Bldg_Type": _text(_pick(rng, ("1Fam", "TwnhsE", "Duplex", "Twnhs", "2fmCon"), (82.8, 8, 3.7, 3.3, 2.1), n)),
    }


def _building_columns(rng: np.random.Generator, n: int, h: SimpleNamespace, style: np.ndarray, exterior: np.ndarray,
                      exterior2: np.ndarray) -> dict[str, pa.Array]:
    """Style, age, roof, walls and foundation."""
    return {
        "House_Style": _text(style),
        "Overall_Qual": pa.array(h.quality.astype(np.int64)),
        "Overall_Cond": pa.array(h.condition.astype(np.int64)),
        "Year_Built": pa.array(h.year_built.astype(np.int64)),
        "Year_Remod_Add": pa.array(h.year_remod.astype(np.int64)),
        "Roof_Style": _text(_pick(rng, ("Gable", "Hip", "Gambrel", "Flat", "Mansard", "Shed"),
                                  (79, 18.8, 0.8, 0.7, 0.4, 0.2), n)),
        "Roof_Matl": _text(_pick(rng, ("CompShg", "Tar&Grv", "WdShake", "WdShngl", "Metal", "Membran", "Roll"),
                                 (98.6, 0.8, 0.3, 0.2, 0.03, 0.03, 0.03), n)),
        "Exterior_1st": _text(exterior),
        "Exterior_2nd": _text(exterior2),
        "Mas_Vnr_Type": _text(h.veneer_type),
        "Mas_Vnr_Area": _optional_int(h.veneer_area, rng.random(n) < 0.008),
        "Exter_Qual": _text(_grade(h.quality, rng, 0.6)),
        "Exter_Cond": _text(_grade(h.condition + 1, rng, 0.8)),
        "Foundation": _text(np.where(h.year_built > 1980, _pick(rng, ("PConc", "CBlock"), (85, 15), n),
                                     _pick(rng, ("CBlock", "BrkTil", "PConc", "Slab", "Stone", "Wood"),
                                           (60, 25, 8, 4, 2, 1), n))),
    }


def _interior_columns(rng: np.random.Generator, n: int, h: SimpleNamespace) -> dict[str, pa.Array]:
    """Basement, heating, floors, rooms and fireplaces."""
    bsmt_text = lambda levels: np.where(h.has_bsmt, levels, "NA")  # noqa: E731
    return {
        "Bsmt_Qual": _text(bsmt_text(_grade(h.quality + 0.4, rng))),
        "Bsmt_Cond": _text(bsmt_text(_grade(np.full(n, 6.0), rng, 0.6))),
        "Bsmt_Exposure": _text(bsmt_text(_pick(rng, ("No", "Av", "Gd", "Mn"), (65, 14, 10, 8), n))),
        "BsmtFin_Type_1": _text(bsmt_text(np.where(h.bsmt_fin1 > 0, _pick(rng, ("GLQ", "ALQ", "BLQ", "Rec", "LwQ"),
                                                                          (29, 15, 9, 10, 5), n), "Unf"))),
        "BsmtFin_SF_1": _optional_int(h.bsmt_fin1, ~h.has_bsmt & (rng.random(n) < 0.05)),
        "BsmtFin_Type_2": _text(bsmt_text(np.where(h.bsmt_fin2 > 0, _pick(rng, ("Rec", "LwQ", "BLQ", "ALQ", "GLQ"),
                                                                          (4, 3, 2, 2, 1), n), "Unf"))),
        "BsmtFin_SF_2": pa.array(h.bsmt_fin2.astype(np.int64)),
        "Bsmt_Unf_SF": pa.array(h.bsmt_unf.astype(np.int64)),
        "Total_Bsmt_SF": pa.array(h.total_bsmt.astype(np.int64)),
        "Heating": _text(_pick(rng, ("GasA", "GasW", "Grav", "Wall", "OthW", "Floor"), (98.5, 0.9, 0.3, 0.2, 0.07, 0.03), n)),
        "Heating_QC": _text(_grade(h.quality + 1 + 2 * (h.year_remod > 1995), rng, 1.0)),
        "Central_Air": _text(h.central_air),
        "Electrical": _text(_pick(rng, ("SBrkr", "FuseA", "FuseF", "FuseP", "Mix"), (91.5, 6.4, 1.7, 0.3, 0.03), n)),
        "First_Flr_SF": pa.array(h.first_flr.astype(np.int64)),
        "Second_Flr_SF": pa.array(h.second_flr.astype(np.int64)),
        "Low_Qual_Fin_SF": pa.array(h.low_qual.astype(np.int64)),
        "Gr_Liv_Area": pa.array(h.living.astype(np.int64)),
        "Bsmt_Full_Bath": pa.array(((h.bsmt_fin1 > 0) & (rng.random(n) < 0.6)).astype(np.int64)),
        "Bsmt_Half_Bath": pa.array((rng.random(n) < 0.06).astype(np.int64)),
        "Full_Bath": pa.array(h.full_bath.astype(np.int64)),
        "Half_Bath": pa.array(h.half_bath.astype(np.int64)),
        "Bedroom_AbvGr": pa.array(h.bedrooms.astype(np.int64)),
        "Kitchen_AbvGr": pa.array(np.where(rng.random(n) < 0.045, 2, 1).astype(np.int64)),
        "Kitchen_Qual": _text(h.kitchen_grade),
        "TotRms_AbvGrd": pa.array(h.rooms.astype(np.int64)),
        "Functional": _text(_pick(rng, ("Typ", "Min2", "Min1", "Mod", "Maj1", "Maj2", "Sev", "Sal"),
                                  (93, 2.4, 2.2, 1.2, 0.65, 0.3, 0.07, 0.07), n)),
        "Fireplaces": pa.array(h.fireplaces.astype(np.int64)),
        "Fireplace_Qu": _text(np.where(h.fireplaces > 0, _grade(h.quality, rng, 1.0), "NA")),
    }


def _garage_and_sale_columns(rng: np.random.Generator, n: int, h: SimpleNamespace) -> dict[str, pa.Array]:
    """Garage, outdoor extras, the sale and its price."""
    garage_text = lambda levels: np.where(h.has_garage, levels, "NA")  # noqa: E731
    return {
        "Garage_Type": _text(garage_text(_pick(rng, ("Attchd", "Detchd", "BuiltIn", "Basment", "2Types", "CarPort"),
                                               (63, 28, 6.5, 1.2, 0.8, 0.5), n))),
        "Garage_Yr_Blt": _optional_int(h.garage_year, ~h.has_garage),
        "Garage_Finish": _text(garage_text(_pick(rng, ("Unf", "RFn", "Fin"), (45, 30, 25), n))),
        "Garage_Cars": pa.array(h.garage_cars.astype(np.int64)),
        "Garage_Area": pa.array(h.garage_area.astype(np.int64)),
        "Garage_Qual": _text(garage_text(_grade(np.full(n, 5.5), rng, 0.6))),
        "Garage_Cond": _text(garage_text(_grade(np.full(n, 5.5), rng, 0.6))),
        "Paved_Drive": _text(_pick(rng, ("Y", "N", "P"), (90.5, 7.4, 2.1), n)),
        "Wood_Deck_SF": pa.array(h.deck.astype(np.int64)),
        "Open_Porch_SF": pa.array(h.porch.astype(np.int64)),
        "Enclosed_Porch": pa.array(np.where(rng.random(n) < 0.15, rng.integers(20, 400, n), 0)),
        "Three_season_porch": pa.array(np.where(rng.random(n) < 0.013, rng.integers(100, 400, n), 0)),
        "Screen_Porch": pa.array(np.where(rng.random(n) < 0.087, rng.integers(40, 400, n), 0)),
        "Pool_Area": pa.array(np.where(h.pool, rng.integers(140, 800, n), 0)),
        "Pool_QC": _text(np.where(h.pool, _pick(rng, ("Ex", "Gd", "TA", "Fa"), (4, 4, 3, 2), n), "NA")),
        "Fence": _text(_pick(rng, ("NA", "MnPrv", "GdPrv", "GdWo", "MnWw"), (80.5, 11.4, 4, 3.8, 0.4), n)),
        "Misc_Feature": _text(h.misc),
        "Misc_Val": pa.array(np.where(h.misc != "NA", rng.lognormal(6.3, 0.9, n).round(), 0).astype(np.int64)),
        "Mo_Sold": pa.array(np.clip(np.round(rng.normal(6.2, 2.6, n)), 1, 12).astype(np.int64)),
        "Yr_Sold": pa.array(h.yr_sold.astype(np.int64)),
        "Sale_Type": _text(h.sale_type),
        "Sale_Condition": _text(h.sale_condition),
        "Longitude": pa.array(h.lon.round(6)),
        "Latitude": pa.array(h.lat.round(6)),
        "SalePrice": pa.array(h.price),
    
    }
