"""The attendance sheet as it looks on the screens HR staff use in the room (1280 and 1920 px
wide): every button holds its label, and no button spills out of its panel or the window.
The walk-in button "Als anwesend hinzufügen" used to render as a 32 px square (issue 20)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

HR_STAFF = "personal@stadt-dessau.example"
TOLERANCE = 1  # px: sub-pixel rounding of borders

# Every visible button and button-styled link in <main>, with its label's and its panel's box.
BOXES = """() => [...document.querySelectorAll('main button, main .kern-btn')]
  .filter(b => b.offsetParent !== null)
  .map(b => {
    const box = r => r && (({left, right, top, bottom}) => ({left, right, top, bottom}))(
      r.getBoundingClientRect());
    return {
      text: b.innerText.trim() || b.getAttribute('aria-label'),
      button: box(b),
      label: box(b.querySelector('.kern-label')),
      panel: box(b.closest('.attendance-walk-in, .attendance-hits')),
    };
  })"""


def _inside(inner: dict, outer: dict) -> bool:
    return (inner["left"] >= outer["left"] - TOLERANCE
            and inner["right"] <= outer["right"] + TOLERANCE
            and inner["top"] >= outer["top"] - TOLERANCE
            and inner["bottom"] <= outer["bottom"] + TOLERANCE)


@pytest.mark.parametrize("width", [1280, 1920])
def test_every_button_on_the_sheet_holds_its_label_with_a_walk_in_found(web, scene, width):
    page = web.page
    page.set_viewport_size({"width": width, "height": 900})
    walk_in = scene.employees[-1]  # only searched for, never added: shared with other tests
    web.login(HR_STAFF)
    web.goto(f"/anwesenheit/termine/{scene.running['keyboard']}")
    page.get_by_label("Name oder E-Mail-Adresse").fill(walk_in)
    add = page.get_by_role("button", name="Als anwesend hinzufügen", exact=False)
    expect(add).to_have_count(1)
    web.settle()

    boxes = page.evaluate(BOXES)
    window = {"left": 0, "top": 0, "right": width, "bottom": float("inf")}
    walk_in_buttons = [b for b in boxes if "Als anwesend hinzufügen" in b["text"]]
    assert len(walk_in_buttons) == 1, boxes
    assert len(boxes) > 10, boxes  # the sheet's status buttons are among them
    for b in boxes:
        assert b["label"] is not None, b
        assert _inside(b["label"], b["button"]), f"label spills out of its button: {b}"
        assert _inside(b["button"], window), f"button outside the window: {b}"
        if b["panel"]:
            assert _inside(b["button"], b["panel"]), f"button outside its panel: {b}"
    add_box = walk_in_buttons[0]["button"]
    # Wide enough to read: the whole label on one line, not an icon-sized square.
    assert add_box["right"] - add_box["left"] > 120, walk_in_buttons
    web.screenshot(f"sheet with walk-in found at {width}")
    web.check(f"sheet at {width}")
