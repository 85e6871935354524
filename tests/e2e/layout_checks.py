"""What "nothing overflows" means in the browser tests: the page and every card fit their width at these sizes."""

WIDTHS = (1280, 1440)

# The page (`documentElement`) and every card must satisfy scrollWidth <= clientWidth; a wide table may scroll
# only inside its own `.table-scroll` box. Returns one line per offender.
OVERFLOW_JS = """() => {
  const out = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth) out.push(`page ${root.scrollWidth} > ${root.clientWidth}`);
  document.querySelectorAll('.card').forEach((card, i) => {
    if (card.scrollWidth > card.clientWidth + 1) {
      const title = (card.querySelector('h2, h3, th, strong') || card).textContent.trim().slice(0, 40);
      out.push(`card #${i} "${title}" ${card.scrollWidth} > ${card.clientWidth}`);
    }
  });
  return out;
}"""
