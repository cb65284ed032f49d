"""The seed's first example: slice a matrix into columns with Lambda layers, then merge them.

Keras 1's code with only the imports changed. `x[:, :, 0]` of a `(batch, 4, 2)` input is
`(batch, 4)`, not the declared `(4, 1)`: lamina warns once per Lambda and uses the real shape,
in the summary and in the picture.

Run: python examples/slicing.py  (writes lambda.png to the current folder)
"""

import numpy as np

from lamina import Input, Model
from lamina.layers import Lambda, Reshape, merge
from lamina.utils import plot_model


def slice(x, index):
    return x[:, :, index]


a = Input(shape=(4, 2))
x1 = Lambda(slice, output_shape=(4, 1), arguments={"index": 0})(a)
x2 = Lambda(slice, output_shape=(4, 1), arguments={"index": 1})(a)
x1 = Reshape((4, 1, 1))(x1)
x2 = Reshape((4, 1, 1))(x2)
output = merge([x1, x2], mode="concat")
model = Model(a, output)
x_test = np.array([[[1, 2], [2, 3], [3, 4], [4, 5]]])
print(model.predict(x_test))
# -> [[[[1. 2.]] [[2. 3.]] [[3. 4.]] [[4. 5.]]]], shape (1, 4, 1, 2)
model.summary()
plot_model(model, to_file="lambda.png", show_shapes=True)
print("wrote lambda.png")
