"""Regenerate ``multi_teacher_sample.jsonl`` deterministically.

All questions and responses below are hand-written, synthetic text (no real model
outputs).  The four "teachers" are invented writing styles:

* ``teacher-clear``   -- plain, well-formed step-by-step English.
* ``teacher-verbose`` -- long "thinking out loud" (R1-style) trace with re-checks.
* ``teacher-terse``   -- symbol-heavy one-liners, arrows, almost no prose.
* ``teacher-odd``     -- grammatical but stylistically unnatural (legalese,
  inverted word order, ALL-CAPS, ``<step>`` tags / ``STEP n ::`` markup,
  a few non-English words).

The ``correct`` flag is not hand-set: each response records the final answer it
states (``final``) and the flag is computed by comparing that value with the
ground truth, which is itself computed in Python below (q08 executes the function).

Usage::

    python hf_localnat/data/make_sample.py          # rewrites the .jsonl next to this file
    python hf_localnat/data/make_sample.py --check  # verify the file on disk is up to date
"""

from __future__ import annotations

import json
import sys
from fractions import Fraction
from pathlib import Path

OUT = Path(__file__).with_name("multi_teacher_sample.jsonl")
TEACHERS = ["teacher-clear", "teacher-verbose", "teacher-terse", "teacher-odd"]
MAX_CHARS = {"teacher-verbose": 2500}
DEFAULT_MAX_CHARS = 1400

Q08_CODE = (
    "def f(n):\n"
    "    total = 0\n"
    "    for i in range(1, n + 1):\n"
    "        if i % 2 == 1:\n"
    "            total += i * i\n"
    "    return total\n"
)


def _q08_truth() -> int:
    ns: dict = {}
    exec(Q08_CODE, ns)  # noqa: S102 - fixed, trusted snippet defined above
    return ns["f"](5)


def _q04_truth() -> int:
    return sum(1 for k in range(1, 100) if k % 3 == 0 or k % 5 == 0)


QUESTIONS = {
    "q01": (
        "Maria buys 4 packs of stickers with 12 stickers in each pack. She gives 9 stickers "
        "to her brother and uses 15 stickers to decorate her notebook. How many stickers does "
        "she have left?",
        4 * 12 - 9 - 15,
    ),
    "q02": (
        "A jacket has a price tag of $80. It is on sale for 25% off, and then a 10% sales tax "
        "is added to the sale price. What is the final price of the jacket, in dollars?",
        Fraction(80) * Fraction(3, 4) * Fraction(11, 10),
    ),
    "q03": (
        "Three times a number, increased by 7, equals 46. What is the number?",
        Fraction(46 - 7, 3),
    ),
    "q04": (
        "How many positive integers less than 100 are divisible by 3 or by 5?",
        _q04_truth(),
    ),
    "q05": (
        "A rectangular garden measures 12 m by 8 m. A path 1 m wide runs all the way around "
        "the outside of the garden. What is the area of the path, in square meters?",
        (12 + 2) * (8 + 2) - 12 * 8,
    ),
    "q06": (
        "Pipe A can fill a tank in 6 hours, and pipe B can fill the same tank in 3 hours. If "
        "both pipes are opened together, how many hours will it take to fill the empty tank?",
        1 / (Fraction(1, 6) + Fraction(1, 3)),
    ),
    "q07": (
        "A 1200 kg car starts from rest and speeds up uniformly to 20 m/s in 5 seconds. What "
        "is the net force acting on the car, in newtons?",
        1200 * Fraction(20 - 0, 5),
    ),
    "q08": (
        "What does this Python function return for n = 5?\n\n```python\n" + Q08_CODE + "```",
        _q08_truth(),
    ),
}

# (question_id, teacher) -> (response text, final answer stated in the response)
R: dict[tuple[str, str], tuple[str, str]] = {}

# ---------------------------------------------------------------- teacher-clear
R["q01", "teacher-clear"] = (
    "Maria buys 4 packs with 12 stickers in each pack. "
    "So she starts with 4 × 12 = 48 stickers. "
    "She gives 9 stickers to her brother. "
    "That leaves her with 48 − 9 = 39 stickers. "
    "She then uses 15 stickers to decorate her notebook. "
    "So she has 39 − 15 = 24 stickers left. "
    "The answer is 24.",
    "24",
)
R["q02", "teacher-clear"] = (
    "The jacket originally costs $80. "
    "A 25% discount means the buyer pays $\\frac{3}{4}$ of the original price. "
    "The sale price is therefore 80 × 3/4 = $60. "
    "Next, a 10% sales tax is added to the sale price. "
    "The tax amounts to 10% of 60, which is $6. "
    "Adding the tax gives 60 + 6 = $66. "
    "The final price of the jacket is $66. "
    "The answer is 66.",
    "66",
)
R["q03", "teacher-clear"] = (
    "Let the unknown number be x. "
    "Three times the number, increased by 7, is 3x + 7. "
    "We are told that 3x + 7 = 46. "
    "Subtracting 7 from both sides gives 3x = 39. "
    "Dividing both sides by 3 gives x = 13. "
    "We can check this: 3 × 13 + 7 = 39 + 7 = 46. "
    "The answer is 13.",
    "13",
)
# WRONG: counts 100 as a multiple of 5 below 100 (20 instead of 19).
R["q04", "teacher-clear"] = (
    "We want to count the positive integers below 100 that are divisible by 3 or by 5. "
    "We can use inclusion–exclusion for this. "
    "The multiples of 3 below 100 run from 3 up to 99, and there are 99 ÷ 3 = 33 of them. "
    "The number of multiples of 5 below 100 is 100 ÷ 5 = 20. "
    "Numbers divisible by both 3 and 5 are exactly the multiples of 15. "
    "The multiples of 15 below 100 are 15, 30, 45, 60, 75 and 90, so there are 6 of them. "
    "By inclusion–exclusion, the count is 33 + 20 − 6 = 47. "
    "The answer is 47.",
    "47",
)
R["q05", "teacher-clear"] = (
    "We can find the area of the path by subtracting the garden from the larger rectangle "
    "that includes the path.\n\n"
    "1. The path adds 1 m on each side, so the outer length is 12 + 2 = 14 m.\n"
    "2. The outer width is 8 + 2 = 10 m.\n"
    "3. The outer rectangle has an area of 14 × 10 = 140 square meters.\n"
    "4. The garden itself has an area of 12 × 8 = 96 square meters.\n"
    "5. The path is the difference, 140 − 96 = 44 square meters.\n\n"
    "The answer is 44.",
    "44",
)
R["q06", "teacher-clear"] = (
    "Pipe A fills the tank in 6 hours, so it fills $\\frac{1}{6}$ of the tank per hour. "
    "Pipe B fills the tank in 3 hours, so it fills $\\frac{1}{3}$ of the tank per hour. "
    "Working together, they fill $\\frac{1}{6} + \\frac{1}{3}$ of the tank each hour. "
    "Since $\\frac{1}{3} = \\frac{2}{6}$, the combined rate is $\\frac{3}{6} = \\frac{1}{2}$ "
    "of the tank per hour. "
    "At half a tank per hour, filling the whole tank takes 2 hours. "
    "The answer is 2.",
    "2",
)
R["q07", "teacher-clear"] = (
    "The car starts from rest, so its initial speed is 0 m/s. "
    "It reaches 20 m/s after 5 seconds. "
    "Its acceleration is the change in speed divided by the time, which is (20 − 0) ÷ 5 = 4 m/s². "
    "By Newton's second law, the net force equals mass times acceleration. "
    "The mass of the car is 1200 kg. "
    "So the net force is 1200 kg × 4 m/s² = 4800 N. "
    "The answer is 4800.",
    "4800",
)
R["q08", "teacher-clear"] = (
    "The function adds up the squares of the odd numbers from 1 to n. "
    "For n = 5, the loop runs over i = 1, 2, 3, 4 and 5. "
    "Only the odd values 1, 3 and 5 pass the test `i % 2 == 1`. "
    "Their squares are 1, 9 and 25. "
    "We can trace the running total step by step:\n\n"
    "```\n"
    "i=1: total = 0 + 1 = 1\n"
    "i=3: total = 1 + 9 = 10\n"
    "i=5: total = 10 + 25 = 35\n"
    "```\n\n"
    "The even values 2 and 4 are skipped and do not change the total. "
    "The function returns 35. "
    "The answer is 35.",
    "35",
)

# -------------------------------------------------------------- teacher-verbose
R["q01", "teacher-verbose"] = (
    "Okay, let me think about this. Maria buys 4 packs of stickers, and each pack has 12 "
    "stickers. So first I need the total number of stickers she starts with.\n\n"
    "4 times 12... that's 48. So she starts with 48 stickers.\n\n"
    "Then she gives 9 stickers to her brother. Hmm, so 48 minus 9 is 39. Then she uses 15 "
    "stickers on her notebook. 39 minus 15 is 24.\n\n"
    "Wait, let me double-check. Is there anything tricky here? The question asks how many "
    "she has left, so I just subtract both amounts from the total. She gave away 9 and used "
    "15, which together is 9 + 15 = 24 stickers gone. And 48 minus 24 is 24. Oh, "
    "interesting, that's the same number, which is a bit of a coincidence, but it checks out.\n\n"
    "Let me verify once more: 4 × 12 = 48, 48 − 9 = 39, 39 − 15 = 24. Yes, that's consistent.\n\n"
    "So Maria has 24 stickers left.\n\n"
    "The answer is 24.",
    "24",
)
R["q02", "teacher-verbose"] = (
    "Okay, let me think step by step. The jacket costs $80 and it's 25% off. Then a 10% tax "
    "is applied to the sale price, not the original price.\n\n"
    "First, the discount. 25% of 80 is 20, because a quarter of 80 is 20. So the sale price "
    "is 80 − 20 = 60 dollars.\n\n"
    "Now the tax. 10% of 60 is 6. So the final price is 60 + 6 = 66 dollars.\n\n"
    "Wait, let me double-check that I applied the tax to the right amount. The problem says "
    "the tax is added to the sale price, so yes, it's 10% of 60, not 10% of 80. If I had "
    "used 80 I would get 8, but that's not what the problem says.\n\n"
    "Hmm, another way to see it: the price gets multiplied by 0.75 and then by 1.10. So "
    "80 × 0.75 = 60, and 60 × 1.1 = 66. Actually, I could also combine the factors: "
    "0.75 × 1.1 = 0.825, and 80 × 0.825 = 66. Same result.\n\n"
    "Some people might think 25% off and 10% tax cancel to 15% off, which would give "
    "80 × 0.85 = 68. But that's wrong, because the tax is taken on a smaller base. So 66 is "
    "right.\n\n"
    "The final price of the jacket is $66.\n\n"
    "The answer is 66.",
    "66",
)
R["q03", "teacher-verbose"] = (
    "Okay, let me think. \"Three times a number, increased by 7, equals 46.\" So if the "
    "number is x, then three times it is 3x, and increased by 7 means 3x + 7.\n\n"
    "So the equation is 3x + 7 = 46. Hmm, that seems straightforward, but let me be careful.\n\n"
    "Subtract 7 from both sides: 3x = 46 − 7 = 39.\n\n"
    "Then divide by 3: x = 39 / 3 = 13.\n\n"
    "Wait, let me double-check the reading of the sentence. Could it mean 3 times (x + 7)? "
    "The comma after \"number\" suggests the increase happens after multiplying. If it were "
    "3(x + 7) = 46, then x + 7 = 46/3, which is not a whole number, so that reading is "
    "unlikely.\n\n"
    "Let me verify: 3 × 13 = 39, and 39 + 7 = 46. Yes, that works perfectly.\n\n"
    "So the number is 13.\n\n"
    "The answer is 13.",
    "13",
)
R["q04", "teacher-verbose"] = (
    "Okay, let me think about how to count these. I need positive integers less than 100, "
    "so 1 through 99, that are divisible by 3 or by 5.\n\n"
    "The standard approach is inclusion-exclusion: count multiples of 3, count multiples of "
    "5, and subtract the ones counted twice, which are multiples of 15.\n\n"
    "Multiples of 3 up to 99: the largest is 99 = 3 × 33, so there are 33 of them.\n\n"
    "Multiples of 5 up to 99: the largest is 95 = 5 × 19, so there are 19. Wait, I should "
    "be careful here, because 100 is a multiple of 5 but it's not less than 100. So 19, not "
    "20. Good.\n\n"
    "Multiples of 15 up to 99: 15, 30, 45, 60, 75, 90. That's 6. The next one would be 105, "
    "which is too big.\n\n"
    "So the total is 33 + 19 − 6. Let me compute: 33 + 19 = 52, and 52 − 6 = 46.\n\n"
    "Wait, let me double-check with a different method. Among every 15 consecutive numbers, "
    "the ones divisible by 3 or 5 are 3, 5, 6, 9, 10, 12, 15, which is 7 numbers. From 1 to "
    "90 there are 6 full blocks of 15, giving 6 × 7 = 42. Then from 91 to 99, the numbers "
    "are 93, 95, 96 and 99, which is 4 more. So 42 + 4 = 46. Both methods agree.\n\n"
    "The answer is 46.",
    "46",
)
# WRONG: 12 × 8 slips to 86; the strip cross-check catches a mismatch but is dismissed.
R["q05", "teacher-verbose"] = (
    "Okay, let me think about the geometry here. The garden is 12 m by 8 m, and there's a "
    "path 1 m wide all the way around the outside.\n\n"
    "So the path plus garden forms a bigger rectangle. The path adds 1 m on the left and "
    "1 m on the right, so the length becomes 12 + 2 = 14 m. Similarly the width becomes "
    "8 + 2 = 10 m.\n\n"
    "The big rectangle has area 14 × 10 = 140 square meters.\n\n"
    "The garden itself has area 12 × 8. That's 86 square meters.\n\n"
    "So the path area is 140 − 86 = 54 square meters.\n\n"
    "Wait, let me double-check the subtraction. 140 − 86: 140 − 80 = 60, and 60 − 6 = 54. "
    "Yes, 54.\n\n"
    "Hmm, let me also sanity-check by thinking of the path as strips. Two long strips along "
    "the length would be 14 × 1 each, so 28 total. Two short strips along the width, "
    "between the long ones, would be 8 × 1 each, so 16 total. That gives 28 + 16 = 44. "
    "Hmm, that's different.\n\n"
    "Wait, that doesn't match. Maybe I'm miscounting the corners in the strip method. The "
    "corner squares are 1 × 1 and there are 4 of them, and they're already included in the "
    "14-long strips. I think the strip method is easy to get wrong, so I'll trust the "
    "rectangle subtraction, which is more direct.\n\n"
    "So the area of the path is 54 square meters.\n\n"
    "The answer is 54.",
    "54",
)
R["q06", "teacher-verbose"] = (
    "Okay, let me think. Pipe A fills the tank in 6 hours and pipe B fills it in 3 hours. "
    "Together they'll be faster than either one alone, so the answer should be less than 3 "
    "hours.\n\n"
    "The trick with these problems is to add rates, not times. Pipe A fills 1/6 of the tank "
    "per hour. Pipe B fills 1/3 of the tank per hour.\n\n"
    "Together: 1/6 + 1/3. Converting to sixths, 1/3 = 2/6, so the sum is 1/6 + 2/6 = 3/6 = "
    "1/2.\n\n"
    "So together they fill half the tank every hour. That means the full tank takes 2 "
    "hours.\n\n"
    "Wait, let me double-check with actual volumes. Suppose the tank holds 6 liters. Then "
    "pipe A delivers 1 liter per hour and pipe B delivers 2 liters per hour. Together that's "
    "3 liters per hour, and 6 ÷ 3 = 2 hours. Yes, same answer.\n\n"
    "Also, 2 hours is less than 3 hours, which matches my earlier expectation. And it's not "
    "simply the average of 6 and 3, which would be 4.5, because that would be slower than "
    "pipe B alone, which makes no sense.\n\n"
    "So it takes 2 hours to fill the tank.\n\n"
    "The answer is 2.",
    "2",
)
R["q07", "teacher-verbose"] = (
    "Okay, let me think about the physics here. The car has mass 1200 kg, starts from rest, "
    "and reaches 20 m/s in 5 seconds with uniform acceleration.\n\n"
    "The net force is F = m × a, so I need the acceleration first.\n\n"
    "Acceleration is change in velocity over time: a = (20 − 0) / 5 = 4 m/s².\n\n"
    "Then F = 1200 × 4 = 4800 N.\n\n"
    "Wait, let me double-check the units. Mass in kilograms times acceleration in meters per "
    "second squared gives kg·m/s², which is exactly a newton. So the units work out, and no "
    "conversion is needed since everything is already in SI units.\n\n"
    "Hmm, let me also check with the work-energy idea. The final kinetic energy is "
    "½ × 1200 × 20² = ½ × 1200 × 400 = 240,000 J. The distance covered under uniform "
    "acceleration is the average speed times time, which is 10 m/s × 5 s = 50 m. Then "
    "force = work / distance = 240,000 / 50 = 4800 N. Great, that matches.\n\n"
    "Hmm, is 4800 N a reasonable size? The car's weight is about 1200 × 9.8 ≈ 11,760 N, so "
    "the net force is a bit less than half of its weight. That's a brisk but realistic "
    "acceleration for a car. Okay.\n\n"
    "So the net force on the car is 4800 newtons.\n\n"
    "The answer is 4800.",
    "4800",
)
R["q08", "teacher-verbose"] = (
    "Okay, let me think about what this function does. It starts with total = 0 and loops "
    "i from 1 to n inclusive, because range(1, n + 1) stops just before n + 1.\n\n"
    "Inside the loop, it only adds something when i % 2 == 1, which means i is odd. And what "
    "it adds is i * i, the square of i.\n\n"
    "So for n = 5, let me trace it.\n\n"
    "```\n"
    "i = 1: odd, total becomes 0 + 1 = 1\n"
    "i = 2: even, skipped\n"
    "i = 3: odd, total becomes 1 + 9 = 10\n"
    "i = 4: even, skipped\n"
    "i = 5: odd, total becomes 10 + 25 = 35\n"
    "```\n\n"
    "Then the loop ends and it returns 35.\n\n"
    "Wait, let me double-check the range. range(1, 6) gives 1, 2, 3, 4, 5, so 5 is included. "
    "Good, I didn't miss the last value.\n\n"
    "There's also a formula for the sum of the first k odd squares: k(2k − 1)(2k + 1)/3. "
    "Here the odd numbers are 1, 3, 5, so k = 3, giving 3 × 5 × 7 / 3 = 35. That matches "
    "the trace.\n\n"
    "So f(5) returns 35.\n\n"
    "The answer is 35.",
    "35",
)

# ---------------------------------------------------------------- teacher-terse
R["q01", "teacher-terse"] = ("4*12=48\n48-9=39\n39-15=24\n∴ 24", "24")
# WRONG: 80*0.75 slips to 65.
R["q02", "teacher-terse"] = ("sale: 80*0.75=65\ntax: 65*1.1=71.5\n∴ 71.5", "71.5")
# Leading whitespace on purpose.
R["q03", "teacher-terse"] = ("  3x+7=46\n→ 3x=39\n→ x=13\n∴ 13", "13")
R["q04", "teacher-terse"] = (
    "|3|: ⌊99/3⌋=33\n|5|: ⌊99/5⌋=19\n|15|: ⌊99/15⌋=6\n→ 33+19-6=46\n∴ 46",
    "46",
)
R["q05", "teacher-terse"] = (
    "outer: (12+2)(8+2)=14*10=140\ninner: 12*8=96\n→ 140-96=44 m²\n∴ 44",
    "44",
)
R["q06", "teacher-terse"] = ("r=1/6+1/3=1/2 tank/h\n→ t=1/(1/2)=2 h\n∴ 2", "2")
# WRONG: 1200*4 slips to 480.
R["q07", "teacher-terse"] = ("a=Δv/Δt=20/5=4 m/s²\nF=ma=1200*4=480 N\n∴ 480", "480")
R["q08", "teacher-terse"] = ("odd i≤5: 1,3,5\n1²+3²+5²=1+9+25=35\n→ return 35\n∴ 35", "35")

# ------------------------------------------------------------------ teacher-odd
# WRONG: 39 - 15 slips to 26.
R["q01", "teacher-odd"] = (
    "<step>WHEREAS the said Maria hath acquired four (4) packs, each containing twelve (12) "
    "stickers, the aggregate holding SHALL BE 4 × 12 = 48.</step>\n"
    "<step>Of these, nine (9) upon her brother are bestowed; thus remain 48 − 9 = 39.</step>\n"
    "<step>Fifteen (15) more in the adornment of the notebook are consumed; thereby remain "
    "39 − 15 = 26.</step>\n"
    "<step>ERGO, the stickers remaining number twenty-six.</step>\n"
    "Final answer: 26.",
    "26",
)
R["q02", "teacher-odd"] = (
    "STEP 1 :: Original price of the jacket, eighty dollars it is.\n"
    "STEP 2 :: A reduction of twenty-five per centum applied, the price becomes "
    "80 × 0.75 = 60. Sehr gut.\n"
    "STEP 3 :: Upon this sale price, a levy of ten per centum is imposed: 60 × 0.10 = 6.\n"
    "STEP 4 :: Summed together, 60 + 6 = 66, the FINAL price constituting.\n"
    "Final answer: 66.",
    "66",
)
R["q03", "teacher-odd"] = (
    "Hereinafter, the unknown quantity SHALL be denominated x.\n"
    "§1. Thrice x, augmented by seven, equals forty-six: 3x + 7 = 46.\n"
    "§2. Seven from both sides removed, there remains 3x = 39.\n"
    "§3. By three divided, x = 13, c'est-à-dire thirteen.\n"
    "§4. Verification, per the statute: 3 × 13 + 7 = 46. CONFIRMED.\n"
    "Final answer: 13.",
    "13",
)
R["q04", "teacher-odd"] = (
    "<step n=\"1\">Multiples of three, below one hundred residing: ⌊99/3⌋ = 33.</step>\n"
    "<step n=\"2\">Multiples of five, likewise residing: ⌊99/5⌋ = 19.</step>\n"
    "<step n=\"3\">Those of BOTH kinds, namely multiples of fifteen, doubly counted they "
    "are: ⌊99/15⌋ = 6.</step>\n"
    "<step n=\"4\">By the principle of inclusion and exclusion, ergo: 33 + 19 − 6 = 46.</step>\n"
    "Final answer: 46.",
    "46",
)
R["q05", "teacher-odd"] = (
    "STEP 1 :: The garden, twelve by eight metres, an area of 12 × 8 = 96 square metres "
    "possesses.\n"
    "STEP 2 :: Encircled by a path of one metre, the outer rectangle measures (12 + 2) by "
    "(8 + 2), videlicet 14 by 10.\n"
    "STEP 3 :: Its area, 14 × 10 = 140 square metres, is thereby ESTABLISHED.\n"
    "STEP 4 :: The path, being the outer less the inner, occupies 140 − 96 = 44 square "
    "metres. Voilà.\n"
    "Final answer: 44.",
    "44",
)
# WRONG: 1/6 + 1/3 slips to 2/9 (numerators and denominators added).
R["q06", "teacher-odd"] = (
    "<step>Pipe A, in six hours the tank it filleth; pipe B, in three.</step>\n"
    "<step>The rates, PER HOUR, are 1/6 and 1/3 of the tank respectively.</step>\n"
    "<step>Conjoined, their sum 1/6 + 1/3 = 2/9 of the tank per hour doth make.</step>\n"
    "<step>The time required, ergo, is the reciprocal: 9/2 = 4.5 hours. Quod erat "
    "demonstrandum.</step>\n"
    "Final answer: 4.5.",
    "4.5",
)
R["q07", "teacher-odd"] = (
    "KNOW YE that the vehicle, of mass 1200 kilogrammes, from rest commences.\n"
    "§1. Its velocity, within five (5) seconds, attaineth 20 m/s; the acceleration, "
    "therefore, is 20 ÷ 5 = 4 m/s².\n"
    "§2. Per the Second Law of Herr Newton, force equals mass multiplied by acceleration.\n"
    "§3. Accordingly: F = 1200 × 4 = 4800 N, the NET force constituting.\n"
    "Final answer: 4800.",
    "4800",
)
# WRONG: off-by-one, treats range(1, n + 1) as stopping at 4.
R["q08", "teacher-odd"] = (
    "STEP 1 :: A loop over range(1, n + 1) the function performeth; for n = 5, the iterands "
    "are 1, 2, 3, 4.\n"
    "STEP 2 :: Only the ODD among them, namely 1 and 3, the condition i % 2 == 1 satisfy.\n"
    "STEP 3 :: Their squares, 1 and 9, into the total are accumulated: 0 + 1 + 9 = 10.\n"
    "STEP 4 :: The value returned, sans doute, is therefore 10.\n"
    "Final answer: 10.",
    "10",
)


def build_rows() -> list[dict]:
    rows = []
    for qid, (question, truth) in QUESTIONS.items():
        for teacher in TEACHERS:
            response, final = R[qid, teacher]
            tail = response.rstrip()[-40:]
            assert final in tail, f"{qid}/{teacher}: stated final {final!r} not at end"
            limit = MAX_CHARS.get(teacher, DEFAULT_MAX_CHARS)
            assert 0 < len(response) <= limit, f"{qid}/{teacher}: {len(response)} chars"
            rows.append(
                {
                    "question_id": qid,
                    "question": question,
                    "teacher": teacher,
                    "response": response,
                    "correct": Fraction(final) == Fraction(truth),
                }
            )
    assert len(R) == len(rows) == len(QUESTIONS) * len(TEACHERS)
    return rows


def render(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def main(argv: list[str]) -> int:
    text = render(build_rows())
    if "--check" in argv:
        ok = OUT.exists() and OUT.read_text(encoding="utf-8") == text
        print("up to date" if ok else f"{OUT} is stale; rerun without --check")
        return 0 if ok else 1
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
