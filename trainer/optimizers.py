"""Adam that updates only the embedding rows a batch touched.

Keras's Adam decays the moments of every row of an embedding table on every
step, even for a sparse gradient: with 1M users that is tens of millions of
values per step whatever the batch size, and it dominates training time.
The lazy variant (as in TF Recommenders / TF Addons' LazyAdam) updates the
moments and weights of the rows in the batch only.  Rows not seen keep their
moments as they were, which is the accepted trade for recommendation tables;
dense weights get the ordinary Adam update.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras


@keras.utils.register_keras_serializable(package="embedflow")
class LazyAdam(keras.optimizers.Adam):
    def update_step(self, gradient, variable):
        if not isinstance(gradient, tf.IndexedSlices) or self.amsgrad:  # amsgrad needs every row's max: dense
            return super().update_step(gradient, variable)
        # The base optimizer has already summed duplicate indices.
        lr = tf.cast(self.learning_rate, variable.dtype)
        step = tf.cast(self.iterations + 1, variable.dtype)
        beta_1 = tf.cast(self.beta_1, variable.dtype)
        beta_2 = tf.cast(self.beta_2, variable.dtype)
        alpha = lr * tf.sqrt(1 - tf.pow(beta_2, step)) / (1 - tf.pow(beta_1, step))
        key = self._index_dict[self._var_key(variable)]
        m, v = self._momentums[key], self._velocities[key]
        rows = gradient.indices
        m_rows = beta_1 * tf.gather(m, rows) + (1 - beta_1) * gradient.values
        v_rows = beta_2 * tf.gather(v, rows) + (1 - beta_2) * tf.square(gradient.values)
        m.scatter_update(tf.IndexedSlices(m_rows, rows))
        v.scatter_update(tf.IndexedSlices(v_rows, rows))
        variable.scatter_sub(tf.IndexedSlices(alpha * m_rows / (tf.sqrt(v_rows) + self.epsilon), rows))
