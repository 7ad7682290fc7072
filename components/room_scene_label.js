// A text label in the 3D scene whose text can change in place (NiceGUI's own text object cannot).
// The outer element belongs to the CSS2D renderer (it positions it every frame); the text and its style live
// in an inner span, so changing them never disturbs the position.
import { CSS2DObject } from "nicegui-scene";

export default class LiveLabel {
  create_mesh(text, style) {
    const outer = document.createElement("div");
    this.span = document.createElement("span");
    outer.appendChild(this.span);
    this.set_text(text, style);
    return new CSS2DObject(outer);
  }
  set_text(text, style) {
    this.span.textContent = text;
    this.span.style.cssText = style;
  }
}
