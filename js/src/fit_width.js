// FitWidth: zero-height helper; when the width of its column changes it dispatches a
// window "resize", which plotly's FigureWidget answers by fitting its container.
export default {
  render({ el }) {
    el.style.cssText = "width:100%;height:0;overflow:hidden;";
    let width = -1, timer = null;
    const observer = new ResizeObserver(([entry]) => {
      const w = Math.round(entry.contentRect.width);
      if (w === width || w === 0) return;
      width = w;
      clearTimeout(timer);
      timer = setTimeout(() => window.dispatchEvent(new Event("resize")), 50);
    });
    observer.observe(el);
    return () => { observer.disconnect(); clearTimeout(timer); };
  },
};
