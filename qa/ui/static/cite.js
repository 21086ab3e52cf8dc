// Clicking a [n] marker in the chat pins that answer's block in the panel and flashes the card.
// On a phone (the Chat / Sources switch is shown) it also switches to the sources.
if (!window.__qaCiteClicks) {
  window.__qaCiteClicks = true;
  const showView = (view) => {
    const row = document.getElementById('qa-chat-row');
    if (row) row.dataset.qaView = view;
    document.querySelectorAll('.qa-phone-switch button').forEach(
      (b) => b.classList.toggle('qa-on', b.dataset.qaView === view));
  };
  document.addEventListener('click', (event) => {
    const switcher = event.target.closest && event.target.closest('.qa-phone-switch button');
    if (switcher) { showView(switcher.dataset.qaView); return; }
    const link = event.target.closest && event.target.closest('a[href^="#src-"], a[href="#qa-latest"]');
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const panel = document.querySelector('.qa-sources');
    if (!panel) return;
    const target = link.getAttribute('href').slice(1);
    if (target === 'qa-latest') { panel.classList.remove('qa-pinned'); return; }
    const card = document.getElementById(target);
    if (!card) return;
    showView('sources');
    const turn = card.closest('.qa-turn');
    const latest = turn === panel.querySelector('.qa-turn:last-child');
    panel.classList.toggle('qa-pinned', !latest);
    panel.querySelectorAll('.qa-turn').forEach((t) => t.classList.toggle('qa-shown', t === turn));
    card.open = true;
    // A card of an uncited passage sits in the folded "more passages" list: unfold it too.
    for (let d = card.parentElement && card.parentElement.closest('details'); d;
         d = d.parentElement && d.parentElement.closest('details')) d.open = true;
    card.scrollIntoView({behavior: 'smooth', block: 'nearest'});
    card.classList.remove('qa-flash');
    void card.offsetWidth;
    card.classList.add('qa-flash');
    setTimeout(() => card.classList.remove('qa-flash'), 1600);
  }, true);
}
