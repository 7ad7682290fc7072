// A room tile drawn in the browser from one element's props (components/tiles.py computes every text and
// colour): a dashboard of 200 rooms is 200 elements per open tab instead of 8 000.
export default {
  template: `
    <component :is="href ? 'a' : 'div'" :href="href ? prefix + href : undefined"
               style="color: inherit; text-decoration: none">
      <q-card :class="'nicegui-card w-64 gap-1' + (href ? ' cursor-pointer hover:shadow-lg' : '')"
              :style="'border-left: 6px solid ' + colour">
        <div class="nicegui-row w-full items-baseline justify-between no-wrap gap-2">
          <div class="text-subtitle1 text-weight-medium ellipsis" :title="name">{{ name }}</div>
          <div v-if="caption" class="text-caption text-grey-7">{{ caption }}</div>
          <q-badge v-if="alerts && alerts.text" :color="alerts.colour" class="self-start">{{ alerts.text }}</q-badge>
        </div>
        <q-separator class="nicegui-separator" />
        <div class="nicegui-row w-full items-baseline justify-between no-wrap gap-2">
          <div class="text-body2 text-grey-8">{{ title }}</div>
          <div class="nicegui-row items-baseline gap-2 no-wrap">
            <div class="text-body2" :style="'color: ' + colour">{{ level }}</div>
            <div class="text-h6 text-weight-bold" :style="'color: ' + colour">{{ score }}</div>
          </div>
        </div>
        <div class="text-caption text-grey-7 -mt-2">{{ detail }}</div>
        <div v-for="line in lines" :key="line.label"
             class="nicegui-row w-full items-center justify-between no-wrap gap-2">
          <div class="nicegui-row items-center gap-2 no-wrap">
            <q-icon name="circle" size="10px" :style="'color: ' + line.colour" />
            <div class="text-body2 text-grey-8">{{ line.label }}</div>
          </div>
          <div class="text-body1 text-weight-medium" :style="'color: ' + line.colour">{{ line.text }}</div>
        </div>
        <div class="text-caption text-grey-7">{{ age }}</div>
      </q-card>
    </component>
  `,
  props: {
    name: String,
    caption: String,
    href: String,
    title: String,
    score: String,
    level: String,
    colour: String,
    detail: String,
    lines: Array,
    age: String,
    alerts: Object,
  },
  computed: {
    prefix() {
      return window.path_prefix || "";
    },
  },
};
